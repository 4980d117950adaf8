package runner

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/klptest/klptest/cases"
)

// Validate checks what a run is asked to do before it does any of it: the
// suite, the case names, and the options that do not go together. It
// returns klptest's cases to run (none for the kernel's own selftests,
// which are known once the kernel's source is at hand). Its errors are the
// caller's mistakes, one line each: the CLI prints them with its usage
// exit status, and Run returns them before any download or boot.
func Validate(o Options) ([]cases.Case, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	suite := o.Suite
	if suite == "" {
		suite = SuiteKlptest
	}
	if !slices.Contains(Suites, suite) {
		return nil, fmt.Errorf("--suite %q: give klptest (the default), kselftest or all", o.Suite)
	}
	if o.StormTasks < 0 || o.StormSeconds < 0 {
		bad("--storm-tasks and --storm-seconds must not be negative")
	}
	if o.Timeout < 0 {
		bad("--timeout %v is negative; give a bound such as 5m, or leave it out for one derived from the cases", o.Timeout)
	}
	seen := map[string]bool{}
	for _, c := range o.Cases {
		if seen[c] {
			bad("case %q named twice; each case runs once per run (see --repeat for more)", c)
		}
		seen[c] = true
	}
	var cs []cases.Case
	switch suite {
	case SuiteKlptest:
		for _, n := range o.Cases {
			if _, ok := cases.KselftestScript(n); ok {
				bad("case %q is one of the kernel's selftests: run it with --suite %s", n, SuiteKselftest)
			}
		}
		if len(errs) > 0 {
			break
		}
		var err error
		if cs, err = cases.Lookup(o.Cases); err != nil {
			bad("%v", err)
		} else if len(o.Cases) == 0 {
			cs = cases.All()
		}
	case SuiteAll:
		if len(o.Cases) > 0 {
			bad("--suite %s runs every case of both suites; to name cases, give --suite %s or %s", SuiteAll, SuiteKlptest, SuiteKselftest)
		}
		cs = cases.All()
	case SuiteKselftest:
		if o.StormTasks != 0 || o.StormSeconds != 0 || o.Vmcore {
			bad("--storm-tasks, --storm-seconds and --vmcore apply to klptest's cases, not to --suite %s; drop them", SuiteKselftest)
		}
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return cs, nil
}
