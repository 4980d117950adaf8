package report

import (
	"reflect"
	"testing"

	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/runner"
)

func TestTallies(t *testing.T) {
	run := func(verdicts ...runner.Verdict) Cell {
		return Cell{Result: &runner.Result{Verdicts: verdicts}, Cases: []string{"patch", "signal"}}
	}
	pass := func(c string) runner.Verdict { return runner.Verdict{Case: c, Pass: true} }
	fail := func(c string) runner.Verdict { return runner.Verdict{Case: c} }
	cells := []Cell{
		run(pass("patch"), pass("signal")),
		run(pass("patch"), fail("signal")),
		run(pass("patch")), // the run stopped before signal
		run(pass("patch"), fail("signal")),
	}
	got := Tallies(cells)
	want := []document.Tally{
		{Case: "patch", Pass: 4},
		{Case: "signal", Pass: 1, Fail: 2, Skip: 1, FailedRuns: []int{2, 4}, SkippedRuns: []int{3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tallies = %+v, want %+v", got, want)
	}
	for i, s := range []string{"patch: 4/4 passed", "signal: 1/4 passed, 2 failed (runs 2, 4), 1 not tested (runs 3)"} {
		if got[i].String() != s {
			t.Errorf("%q, want %q", got[i].String(), s)
		}
	}
}
