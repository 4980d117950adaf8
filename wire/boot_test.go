package wire

import (
	"reflect"
	"strings"
	"testing"
)

// What the host writes the agent reads back the same, every field: a field
// added on one side only fails here, not in a guest.
func TestBootParamsRoundTrip(t *testing.T) {
	for _, p := range []BootParams{
		{},
		{Cases: []string{"patch"}},
		{Cases: []string{"patch", "fork-storm"}, StormTasks: 300, StormSeconds: 20, Vmcore: true},
		{Cases: []string{"kselftest:test-livepatch.sh"}, Suite: SuiteKselftest},
		{BenchSnapshots: "100,1000"},
		{Shell: true},
		{Cases: []string{"signal"}, ShellOnFail: true, Debug: true},
	} {
		line := "quiet log_buf_len=8M " + strings.Join(p.Args(), " ") + " console=ttyS0"
		got, err := ParseBootParams(line)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%q: parsed %+v, want %+v", line, got, p)
		}
	}
	// Every field set: each must reach the command line.
	all := BootParams{Cases: []string{"a"}, StormTasks: 1, StormSeconds: 1, Vmcore: true, Suite: "s",
		BenchSnapshots: "1", Shell: true, ShellOnFail: true, Debug: true}
	if n, want := len(all.Args()), reflect.TypeOf(all).NumField(); n != want {
		t.Errorf("Args writes %d parameters of %d fields: %q", n, want, all.Args())
	}
}

func TestParseBootParamsRejects(t *testing.T) {
	for line, want := range map[string]string{
		"klptest.storm_tasks=many": `klptest.storm_tasks="many" is not a count`,
		"klptest.vmcore=yes":       `klptest.vmcore="yes" is not 0 or 1`,
		"klptest.frobnicate=1":     "unknown parameter klptest.frobnicate",
		"klptest.storm_seconds=-3": "is not a count",
	} {
		if _, err := ParseBootParams(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", line, err, want)
		}
	}
}
