package cases

import (
	"fmt"
	"sort"
	"strings"
)

// Case describes one test case. The guest agent runs it by name; the checker
// applies the shared invariants plus the case's own.
type Case struct {
	Name string
	Doc  string
	// Bound is how long one transition may take before it counts as
	// stalled, in seconds.
	BoundSeconds int
}

var registry = map[string]Case{
	"patch": {
		Name:         "patch",
		Doc:          "enable the livepatch while workers call the patched functions, wait for the transition, disable it, wait, unload",
		BoundSeconds: 60,
	},
}

// All lists the cases by name.
func All() []Case {
	var out []Case
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds cases by name; an unknown name is an error that lists the known ones.
func Lookup(names []string) ([]Case, error) {
	var out []Case
	for _, n := range names {
		c, ok := registry[n]
		if !ok {
			var known []string
			for _, k := range All() {
				known = append(known, k.Name)
			}
			return nil, fmt.Errorf("unknown case %q (known: %s; see `klptest list`)", n, strings.Join(known, ", "))
		}
		out = append(out, c)
	}
	return out, nil
}
