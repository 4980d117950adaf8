package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/klptest/klptest/internal/gzfile"
	"github.com/klptest/klptest/runner"
)

// recordedRun reads the result of a recorded run document (gzipped).
func recordedRun(t *testing.T, path string) *runner.Result {
	t.Helper()
	b, err := gzfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeRun(b)
	if err != nil {
		t.Fatal(err)
	}
	return d.Result
}

// The streamed --repeat document decodes to the Repeat document of the
// same runs, with each run on a line of its own.
func TestWriteRepeat(t *testing.T) {
	type run struct {
		res *runner.Result
		err error
	}
	runs := []run{
		{recordedRun(t, "../report/testdata/run-fork-storm-debian-6.1.json.gz"), nil},
		{recordedRun(t, "../report/testdata/run-demo-stall-debian-6.1.json.gz"), nil},
		{&runner.Result{Arch: "x86_64", Incomplete: "interrupted"}, errors.New("boot: context canceled")},
	}
	tallies := []Tally{{Case: "fork-storm", Pass: 1, Skip: 2, SkippedRuns: []int{2, 3}}}
	for _, n := range []int{0, 1, 3} {
		var readers []io.Reader
		want := Repeat{Schema: RepeatSchema, Version: RepeatVersion, Tallies: tallies, Runs: []Run{}}
		for _, r := range runs[:n] {
			var b bytes.Buffer
			if err := EncodeRun(&b, r.res, r.err); err != nil {
				t.Fatal(err)
			}
			readers = append(readers, &b)
			want.Runs = append(want.Runs, NewRun(r.res, r.err))
		}
		var out bytes.Buffer
		if err := WriteRepeat(&out, tallies, readers); err != nil {
			t.Fatalf("%d runs: %v", n, err)
		}
		if lines := strings.Count(out.String(), "\n"); lines != n+2 {
			t.Errorf("%d runs: %d lines, want a line for the head, each run, the end", n, lines)
		}
		got, err := DecodeRepeat(out.Bytes())
		if err != nil {
			t.Fatalf("%d runs: the document does not decode: %v", n, err)
		}
		// want, through JSON as got came: a trace's maps and times
		// compare equal only then.
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var w Repeat
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			w.Runs = []Run{} // [] streamed and in want; Unmarshal keeps it
		}
		if !reflect.DeepEqual(*got, w) {
			t.Errorf("%d runs: streamed document differs from the Repeat of its runs", n)
		}
	}
}
