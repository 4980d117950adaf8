package cases

import (
	"fmt"
	"strings"
)

// KselftestPrefix starts the name of a case that runs one of the kernel's
// own livepatch selftest scripts: "kselftest:test-livepatch.sh".
const KselftestPrefix = "kselftest:"

// KselftestSkip is the exit status by which a kselftest script says it
// could not run (tools/testing/selftests/kselftest.h, KSFT_SKIP).
const KselftestSkip = 4

// KselftestResult is how one selftest script ended.
type KselftestResult struct {
	Script string `json:"script"`
	// Exit is the script's exit status; -1 when it did not exit (killed
	// at its bound, or not started: Err says why).
	Exit    int     `json:"exit"`
	Output  string  `json:"output"` // stdout and stderr, interleaved, the tail if long
	Seconds float64 `json:"seconds"`
	Err     string  `json:"err,omitempty"`
}

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

// RuleKselftest is the finding of a selftest script that failed.
const RuleKselftest = "kselftest"

func checkKselftest(_ *Trace, ct *CaseTrace) []Finding {
	r := ct.Kselftest
	switch {
	case r == nil:
		return []Finding{{Rule: RuleKselftest, Msg: "the script's outcome was never reported"}}
	case r.Err != "":
		return []Finding{{Rule: RuleKselftest, Msg: fmt.Sprintf("%s did not run to its end: %s\n%s", r.Script, r.Err, r.Output)}}
	case r.Exit == 0, r.Exit == KselftestSkip:
		return nil
	}
	return []Finding{{Rule: RuleKselftest, Msg: fmt.Sprintf("%s exited %d:\n%s", r.Script, r.Exit, r.Output)}}
}

// Skipped says why a kselftest case was skipped by its script (exit 4),
// or "".
func (ct *CaseTrace) Skipped() string {
	if r := ct.Kselftest; r != nil && r.Err == "" && r.Exit == KselftestSkip {
		out := strings.TrimSpace(r.Output)
		if i := strings.LastIndex(out, "\n"); i >= 0 {
			out = out[i+1:]
		}
		return out
	}
	return ""
}

// KselftestTest is one test of a selftest script, as its output tells:
// "TEST: basic function patching ... ok".
type KselftestTest struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
}

// Tests lists the tests the script's output reports, in order. A test
// whose "ok" never came (the script died in it) is not OK.
func (r *KselftestResult) Tests() []KselftestTest {
	var out []KselftestTest
	open := -1 // the test still waiting for its status
	for _, l := range strings.Split(r.Output, "\n") {
		if rest, ok := strings.CutPrefix(l, "TEST: "); ok {
			name, status, _ := strings.Cut(rest, " ... ")
			out = append(out, KselftestTest{Name: name})
			open = len(out) - 1
			l = status
		}
		if open < 0 {
			continue
		}
		switch l = strings.TrimSpace(l); {
		case l == "ok":
			out[open].OK = true
			open = -1
		case strings.HasPrefix(l, "not ok"):
			open = -1
		}
	}
	return out
}
