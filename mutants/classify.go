package mutants

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/runner"
)

// Kind is what the suite made of a mutant.
type Kind string

const (
	// Killed: a named rule of the consistency model, or a case's own,
	// caught it.
	Killed Kind = "killed"
	// CrashOnly: only the kernel said something was wrong (a WARN, an
	// Oops, a panic, a taint, a VM that did not finish): no rule named
	// what broke.
	CrashOnly Kind = "crash-only"
	// Survived: every case passed.
	Survived Kind = "survived"
	// CouldNotTest: the kernel did not build or boot, no case ran, or the
	// cases could not produce their situations.
	CouldNotTest Kind = "could-not-test"
	// Equivalent: not run; the mutant is harmless on the arch.
	Equivalent Kind = "equivalent"
)

// Classification is a mutant's outcome: its kind, the rules behind it,
// and a line saying why.
type Classification struct {
	Kind Kind `json:"outcome"`
	// Rules are the named rules that fired, sorted, for Killed; the
	// crash-only rules that fired, for CrashOnly.
	Rules  []rule.Name `json:"rules,omitempty"`
	Detail string      `json:"detail,omitempty"`
}

// crashOnly says whether a violation says only that the kernel or the VM
// broke, not which rule of the model: the kernel log, the taint, and a
// trace cut short (a panic, an Oops that took the agent, a VM that did not
// finish within its bound).
func crashOnly(v rule.Violation) bool {
	switch v.Rule {
	case rule.KernelLog, rule.Taint:
		return true
	case rule.Trace:
		return v.CutShort != "" || strings.Contains(v.Msg, "did not finish")
	}
	return false
}

// Classify says what a run of the suite made of a mutant (or of the
// pristine tree): Killed if a named rule fired in any case, whatever else
// happened (evidence gathered before a later boot failed still stands);
// else CrashOnly if the kernel or the VM broke; else CouldNotTest if
// klptest could not test (err), no case ran, or the only violations are
// could-not-test coverage; else Survived.
func Classify(res *runner.Result, err error) Classification {
	var named, crash []rule.Name
	var crashWhy, coverageWhy string
	ran := 0
	if res != nil {
		ran = len(res.Verdicts)
		for _, v := range res.Verdicts {
			for _, x := range v.Violations {
				switch {
				case crashOnly(x):
					crash = append(crash, x.Rule)
					if crashWhy == "" {
						crashWhy = v.Case + ": " + oneLine(x.String())
					}
				case x.Rule == rule.Coverage:
					if coverageWhy == "" {
						coverageWhy = v.Case + ": " + oneLine(x.String())
					}
				default:
					named = append(named, x.Rule)
				}
			}
		}
	}
	switch {
	case len(named) > 0:
		return Classification{Kind: Killed, Rules: sortedSet(named)}
	case len(crash) > 0:
		return Classification{Kind: CrashOnly, Rules: sortedSet(crash), Detail: crashWhy}
	case err != nil:
		var ie *runner.InfraError
		if errors.As(err, &ie) {
			return Classification{Kind: CouldNotTest, Detail: oneLine(ie.Error())}
		}
		return Classification{Kind: CouldNotTest, Detail: oneLine(err.Error())}
	case coverageWhy != "":
		return Classification{Kind: CouldNotTest, Rules: []rule.Name{rule.Coverage}, Detail: coverageWhy}
	case ran == 0:
		return Classification{Kind: CouldNotTest, Detail: "no case ran"}
	}
	if res.Failed() {
		// A failed verdict without a violation: nothing to name, and
		// never a survival.
		return Classification{Kind: CouldNotTest, Detail: fmt.Sprintf("a case failed without a violation (%s)", firstFailed(res))}
	}
	return Classification{Kind: Survived}
}

func firstFailed(res *runner.Result) string {
	for _, v := range res.Verdicts {
		if !v.Pass {
			return v.Case
		}
	}
	return ""
}

func sortedSet(names []rule.Name) []rule.Name {
	slices.Sort(names)
	return slices.Compact(names)
}

// oneLine is s's first line, cut to a length a table cell or a progress
// line takes.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
