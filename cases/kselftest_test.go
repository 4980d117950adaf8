package cases

import (
	"testing"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func TestCheckKselftest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       *wire.KselftestResult
		fails   bool
		skipped string
	}{
		{"passed", &wire.KselftestResult{Script: "test-livepatch.sh", Exit: 0, Output: "TEST: a ... ok\n"}, false, ""},
		{"failed", &wire.KselftestResult{Script: "test-livepatch.sh", Exit: 1, Output: "TEST: a ... not ok\n"}, true, ""},
		{"skipped", &wire.KselftestResult{Script: "test-kprobe.sh", Exit: wire.KselftestSkip, Output: "SKIP: kprobes not enabled\n"}, false, "SKIP: kprobes not enabled"},
		{"killed", &wire.KselftestResult{Script: "test-callbacks.sh", Exit: -1, Err: "killed after 9m0s"}, true, ""},
		{"never reported", nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := &wire.CaseTrace{Name: "kselftest:x", Kselftest: tc.r}
			vs := checkKselftest(nil, ct)
			if (len(vs) > 0) != tc.fails {
				t.Errorf("violations %+v, want some: %v", vs, tc.fails)
			}
			for _, v := range vs {
				if v.Rule != rule.Kselftest {
					t.Errorf("rule %q", v.Rule)
				}
			}
			if got := ct.Skipped(); got != tc.skipped {
				t.Errorf("skipped %q, want %q", got, tc.skipped)
			}
		})
	}
}
