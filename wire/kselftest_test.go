package wire

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
