package main

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/klptest/klptest/runner"
)

// recordedRun reads a recorded run document (gzipped JSON).
func recordedRun(t *testing.T, path string) *runner.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var d runner.Document
	if err := json.NewDecoder(zr).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d.Result
}

// snapshots counts a result's snapshots, over its boots and cases.
func snapshots(res *runner.Result) int {
	n := 0
	for _, b := range res.Boots {
		if b.Trace == nil {
			continue
		}
		for _, ct := range b.Trace.Cases {
			n += len(ct.Snapshots)
		}
	}
	return n
}

// A --repeat keeps each run's whole document on disk, and in memory the
// timelines of the failed runs only.
func TestKeepRun(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		failed     bool
	}{
		{"passed", "../../report/testdata/run-fork-storm-debian-6.1.json.gz", false},
		{"failed", "../../report/testdata/run-demo-stall-debian-6.1.json.gz", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := recordedRun(t, tc.path)
			if res.Failed() != tc.failed {
				t.Fatalf("recorded run failed = %v, want %v", res.Failed(), tc.failed)
			}
			before := snapshots(res)
			if before == 0 {
				t.Fatal("recorded run has no snapshots")
			}
			spill := filepath.Join(t.TempDir(), "run-1.json")
			if err := keepRun(spill, res, nil); err != nil {
				t.Fatal(err)
			}
			want := before
			if !tc.failed {
				want = 0
			}
			if got := snapshots(res); got != want {
				t.Errorf("%d snapshots kept in memory, want %d", got, want)
			}
			if len(res.Verdicts) == 0 {
				t.Errorf("verdicts dropped")
			}
			b, err := os.ReadFile(spill)
			if err != nil {
				t.Fatal(err)
			}
			d, err := runner.DecodeDocument(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := snapshots(d.Result); got != before {
				t.Errorf("document on disk has %d snapshots, want all %d", got, before)
			}
		})
	}
	// A run that could not finish keeps it all, as a failed one does.
	res := recordedRun(t, "../../report/testdata/run-fork-storm-debian-6.1.json.gz")
	before := snapshots(res)
	if err := keepRun("", res, &runner.InfraError{Step: "boot", Err: os.ErrDeadlineExceeded}); err != nil {
		t.Fatal(err)
	}
	if got := snapshots(res); got != before {
		t.Errorf("cut-short run: %d snapshots kept, want %d", got, before)
	}
	// A spill dir gone: the error names --json.
	if err := keepRun(filepath.Join(t.TempDir(), "gone", "run-1.json"), res, nil); err == nil {
		t.Error("no error writing into a missing dir")
	}
}
