package agent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parseMeminfo returns the figures of /proc/meminfo text b named in keys,
// in kB; a key it lacks is left out (VmallocUsed and Percpu are 0 or absent
// on some kernels).
func parseMeminfo(b []byte, keys []string) (map[string]int, error) {
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(keys, k) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		if err != nil {
			return out, fmt.Errorf("/proc/meminfo: %s: %w", k, err)
		}
		out[k] = n
	}
	return out, nil
}
