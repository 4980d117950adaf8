package cases

import (
	"reflect"
	"testing"
)

func TestKselftestTests(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      []KselftestTest
	}{
		{"passed", "TEST: basic function patching ... ok\nTEST: multiple livepatches ... ok\n",
			[]KselftestTest{{"basic function patching", true}, {"multiple livepatches", true}}},
		{"a diff", "TEST: sysfs test ... not ok\n\n--- expected\n+++ result\n@@ -1 +1 @@\n-ok\n+bad\n\nERROR: livepatch kselftest(s) failed\n",
			[]KselftestTest{{"sysfs test", false}}},
		{"died in it", "TEST: a ... ok\nTEST: b ... ./functions.sh: line 166: awk: command not found\nERROR: module m is not a livepatch\n",
			[]KselftestTest{{"a", true}, {"b", false}}},
		{"stderr between", "TEST: a ... insmod: warning\nok\n", []KselftestTest{{"a", true}}},
		{"none", "skip all tests: must be run as root\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&KselftestResult{Output: tc.out}).Tests()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCheckKselftest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       *KselftestResult
		finding bool
		skipped string
	}{
		{"passed", &KselftestResult{Script: "test-livepatch.sh", Exit: 0, Output: "TEST: a ... ok\n"}, false, ""},
		{"failed", &KselftestResult{Script: "test-livepatch.sh", Exit: 1, Output: "TEST: a ... not ok\n"}, true, ""},
		{"skipped", &KselftestResult{Script: "test-kprobe.sh", Exit: KselftestSkip, Output: "SKIP: kprobes not enabled\n"}, false, "SKIP: kprobes not enabled"},
		{"killed", &KselftestResult{Script: "test-callbacks.sh", Exit: -1, Err: "killed after 9m0s"}, true, ""},
		{"never reported", nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := &CaseTrace{Name: "kselftest:x", Kselftest: tc.r}
			fs := checkKselftest(nil, ct)
			if (len(fs) > 0) != tc.finding {
				t.Errorf("findings %+v, want some: %v", fs, tc.finding)
			}
			for _, f := range fs {
				if f.Rule != RuleKselftest {
					t.Errorf("rule %q", f.Rule)
				}
			}
			if got := ct.Skipped(); got != tc.skipped {
				t.Errorf("skipped %q, want %q", got, tc.skipped)
			}
		})
	}
}
