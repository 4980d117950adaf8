package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

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
	want := []Tally{
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

// The streamed --repeat document decodes to what encoding it whole gives,
// with each run on a line of its own.
func TestWriteRepeatDocument(t *testing.T) {
	runs := []runner.Document{
		runner.NewDocument(recordedRun(t, "testdata/run-fork-storm-debian-6.1.json.gz"), nil),
		runner.NewDocument(recordedRun(t, "testdata/run-demo-stall-debian-6.1.json.gz"), nil),
		runner.NewDocument(&runner.Result{Arch: "x86_64", Incomplete: "interrupted"}, errors.New("boot: context canceled")),
	}
	tallies := []Tally{{Case: "fork-storm", Pass: 1, Skip: 2, SkippedRuns: []int{2, 3}}}
	for _, n := range []int{0, 1, 3} {
		var readers []io.Reader
		for _, d := range runs[:n] {
			var b bytes.Buffer
			if err := json.NewEncoder(&b).Encode(d); err != nil {
				t.Fatal(err)
			}
			readers = append(readers, &b)
		}
		var out bytes.Buffer
		if err := WriteRepeatDocument(&out, tallies, readers); err != nil {
			t.Fatalf("%d runs: %v", n, err)
		}
		if lines := strings.Count(out.String(), "\n"); lines != n+2 {
			t.Errorf("%d runs: %d lines, want a line for the head, each run, the end", n, lines)
		}
		var got, want RepeatDocument
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%d runs: the document does not decode: %v", n, err)
		}
		whole, err := json.Marshal(NewRepeatDocument(runs[:n], tallies))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(whole, &want); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			want.Runs = []runner.Document{} // [] streamed, null whole
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d runs: streamed document differs from the whole one", n)
		}
	}
}
