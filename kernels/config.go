package kernels

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Config is a parsed kernel .config: option -> value ("y", "m", "\"text\"").
// Options that are "is not set" are absent.
type Config map[string]string

// ParseConfig parses .config text.
func ParseConfig(b []byte) Config {
	c := Config{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "CONFIG_") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			c[k] = v
		}
	}
	return c
}

// ReadConfig reads and parses a .config file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel config: %w", err)
	}
	return ParseConfig(b), nil
}

// Required are the options klptest cannot test without, built in:
// livepatch and what it needs, the kprobes the probe module resolves
// idle_task() with, and devtmpfs for the guest's /dev. The drivers of the
// result port may be modules (see Drivers).
//
// HAVE_RELIABLE_STACKTRACE is where the arches differ (x86_64: the ORC
// unwinder; arm64: since 6.17). Without it klp_try_switch_task() cannot
// switch a sleeping task, so the cases' expectation that tasks asleep
// outside the patched functions switch at once would not hold: such a
// kernel is refused rather than judged by rules it cannot meet.
var Required = []string{"CONFIG_LIVEPATCH", "CONFIG_MODULES", "CONFIG_KALLSYMS_ALL", "CONFIG_KPROBES", "CONFIG_DEVTMPFS", "CONFIG_HAVE_RELIABLE_STACKTRACE"}

// UnsupportedError says a kernel cannot be tested, and why.
type UnsupportedError struct {
	Kernel  string
	Missing []string
}

func (e *UnsupportedError) Error() string {
	var parts []string
	for _, m := range e.Missing {
		if _, ok := Drivers[m]; ok {
			parts = append(parts, m+"=y or =m")
		} else {
			parts = append(parts, m+"=y")
		}
	}
	return fmt.Sprintf("kernel %s cannot be livepatch-tested: its config lacks %s; use a kernel built with them",
		e.Kernel, strings.Join(parts, ", "))
}

// Check reports the required and built-in options the config lacks.
func (c Config) Check(kernel string) error {
	var missing []string
	for _, o := range Required {
		if c[o] != "y" {
			missing = append(missing, o)
		}
	}
	for _, o := range sortedKeys(Drivers) {
		if c[o] != "y" && c[o] != "m" {
			missing = append(missing, o)
		}
	}
	if len(missing) > 0 {
		return &UnsupportedError{Kernel: kernel, Missing: missing}
	}
	return nil
}

// Arch is the arch the config builds for, by klptest's name; "" if neither.
func (c Config) Arch() string {
	switch {
	case c["CONFIG_X86_64"] == "y":
		return "x86_64"
	case c["CONFIG_ARM64"] == "y":
		return "arm64"
	}
	return ""
}

// Compiler is the compiler command recorded in CONFIG_CC_VERSION_TEXT, e.g.
// "x86_64-linux-gnu-gcc-12", and its version text.
func (c Config) Compiler() (cmd, text string) {
	text = strings.Trim(c["CONFIG_CC_VERSION_TEXT"], `"`)
	cmd, _, _ = strings.Cut(text, " ")
	return cmd, text
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}
