package runner

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     Options
		want  string // error substring; "" = valid
		cases int    // klptest cases returned when valid (-1: all)
	}{
		{"default: every case", Options{}, "", -1},
		{"named", Options{Cases: []string{"patch", "signal"}}, "", 2},
		{"selftests only", Options{Suite: SuiteKselftest, Cases: []string{"test-sysfs.sh"}}, "", 0},
		{"both suites", Options{Suite: SuiteAll}, "", -1},
		{"unknown suite", Options{Suite: "ltp"}, `--suite "ltp"`, 0},
		{"unknown case", Options{Cases: []string{"nope"}}, `unknown case "nope"`, 0},
		{"twice", Options{Cases: []string{"patch", "patch"}}, `case "patch" named twice`, 0},
		{"a selftest under klptest", Options{Cases: []string{"kselftest:test-sysfs.sh"}}, "run it with --suite kselftest", 0},
		{"all with cases", Options{Suite: SuiteAll, Cases: []string{"patch"}}, "runs every case of both suites", 0},
		{"storm for selftests", Options{Suite: SuiteKselftest, StormTasks: 10}, "not to --suite kselftest", 0},
		{"negative storm", Options{StormSeconds: -1}, "must not be negative", 0},
		{"negative timeout", Options{Timeout: -time.Second}, "is negative", 0},
		{"every problem at once", Options{StormTasks: -1, Timeout: -1, Cases: []string{"patch", "patch"}}, "negative; --timeout", 0},
	} {
		cs, err := Validate(tc.o)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		case tc.want == "" && tc.cases >= 0 && len(cs) != tc.cases:
			t.Errorf("%s: %d cases, want %d", tc.name, len(cs), tc.cases)
		case tc.want == "" && tc.cases < 0 && len(cs) < 10:
			t.Errorf("%s: %d cases, want them all", tc.name, len(cs))
		}
	}
}
