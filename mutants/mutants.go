// Package mutants owns klptest's mutation score: a corpus of single-point
// bugs planted in the kernel's livepatch core (kernel/livepatch/
// transition.c, patch.c, core.c), each one guard removed, inverted or
// one step reordered; the runner that plants each in a kernel source tree
// the user gives, runs klptest's suite on it and restores the file byte
// for byte whatever happens; the pure classification of what the suite
// made of it (killed by a named rule, crash-only, survived, could not
// test); and the report (a markdown table for docs/mutants.md, the JSON
// document of every outcome), handed out after every mutant, and taken
// back to resume a run that was killed.
//
// A mutant is text: an old→new replacement whose old text occurs exactly
// once in its file of linux-source 7.2. Apply is pure; Run does the file
// I/O, and takes the suite as a function so that tests can fake it. It
// reads no environment; its tests read KLPTEST_MUTANTS_SRC.
package mutants

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// Mutant is one planted bug: where it sits, what it breaks, and the exact
// change.
type Mutant struct {
	ID   string // short and stable, e.g. "tr-check-stack-skip"
	File string // in the kernel tree, e.g. "kernel/livepatch/transition.c"
	Func string // the function the change sits in
	// Desc says, on one line, what the change breaks in the per-task
	// consistency model's terms.
	Desc string
	// Old occurs exactly once in File; New replaces it.
	Old, New string
	// Equivalent marks the mutant harmless on an arch (arch → why): it is
	// not run there, and does not count against the score.
	Equivalent map[string]string
}

// Short is the mutant's file's base name and function, "transition.c:klp_check_stack".
func (m Mutant) Short() string { return path.Base(m.File) + ":" + m.Func }

// Apply plants m in src, the text of m.File. It refuses a file in which
// m.Old does not occur exactly once: the mutant would be planted in the
// wrong place, or not at all, and its outcome would mean nothing.
func Apply(src []byte, m Mutant) ([]byte, error) {
	switch n := bytes.Count(src, []byte(m.Old)); n {
	case 1:
		return bytes.Replace(src, []byte(m.Old), []byte(m.New), 1), nil
	case 0:
		return nil, fmt.Errorf("mutant %s: its old text is not in %s (%s): the tree is not linux-source 7.2's, or it is mutated already", m.ID, m.File, firstLine(m.Old))
	default:
		return nil, fmt.Errorf("mutant %s: its old text occurs %d times in %s (%s): it must name one place", m.ID, n, m.File, firstLine(m.Old))
	}
}

// Select returns the corpus's mutants with the ids, in the corpus's
// order; no ids is the whole corpus. An unknown id is an error naming it.
func Select(ids []string) ([]Mutant, error) {
	all := Corpus()
	if len(ids) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []Mutant
	for _, m := range all {
		if want[m.ID] {
			out = append(out, m)
			delete(want, m.ID)
		}
	}
	for _, id := range ids {
		if want[id] {
			return nil, fmt.Errorf("unknown mutant %q (klptest mutants --list lists them)", id)
		}
	}
	return out, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	return s
}
