package cases

import (
	"fmt"
	"strings"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// KselftestPrefix starts the name of a case that runs one of the kernel's
// own livepatch selftest scripts: "kselftest:test-livepatch.sh".
const KselftestPrefix = "kselftest:"

// Kselftest is the case that runs selftest script: no steps of klptest's,
// the script's exit status and the kernel's health judge it.
func Kselftest(script string) Case {
	return Case{
		Name:      KselftestPrefix + script,
		Doc:       "the kernel's own livepatch selftest " + script,
		Kselftest: script,
		// The scripts wait up to 60 s per transition (MAX_RETRIES of
		// RETRY_INTERVAL) and run tens of them.
		BoundSeconds: 300,
		Check:        checkKselftest,
	}
}

// KselftestScript returns the script a case name runs, if it is a
// kselftest case's.
func KselftestScript(name string) (string, bool) {
	return strings.CutPrefix(name, KselftestPrefix)
}

func checkKselftest(_ *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
	r := ct.Kselftest
	switch {
	case r == nil:
		return []rule.Violation{{Rule: rule.Kselftest, Msg: "the script's outcome was never reported"}}
	case r.Err != "":
		return []rule.Violation{{Rule: rule.Kselftest, Msg: fmt.Sprintf("%s did not run to its end: %s\n%s", r.Script, r.Err, r.Output)}}
	case r.Exit == 0, r.Exit == wire.KselftestSkip:
		return nil
	}
	return []rule.Violation{{Rule: rule.Kselftest, Msg: fmt.Sprintf("%s exited %d:\n%s", r.Script, r.Exit, r.Output)}}
}
