package wire

import "strings"

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

// Skipped says why a case was skipped: the kernel lacked what it tests
// (CaseEnd.Skip), or a kselftest's script said so (exit 4). "" when it was
// not.
func (ct *CaseTrace) Skipped() string {
	if ct.End != nil && ct.End.Skip != "" {
		return ct.End.Skip
	}
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
