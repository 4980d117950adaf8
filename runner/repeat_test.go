package runner

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klptest/klptest/internal/gzfile"
)

// recordedResult reads the result of a recorded run document (gzipped).
func recordedResult(t *testing.T, path string) *Result {
	t.Helper()
	b, err := gzfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Result *Result }
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.Result
}

// snapshots counts a result's snapshots, over its boots and cases.
func snapshots(res *Result) int {
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

func encodeResult(w io.Writer, res *Result, runErr error) error {
	return json.NewEncoder(w).Encode(struct{ Result *Result }{res})
}

// A --repeat keeps each run's whole document on disk, and in memory the
// timelines of the failed runs only.
func TestRepeatKeep(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		failed     bool
	}{
		{"passed", "../report/testdata/run-fork-storm-debian-6.1.json.gz", false},
		{"failed", "../report/testdata/run-demo-stall-debian-6.1.json.gz", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := recordedResult(t, tc.path)
			if res.Failed() != tc.failed {
				t.Fatalf("recorded run failed = %v, want %v", res.Failed(), tc.failed)
			}
			before := snapshots(res)
			if before == 0 {
				t.Fatal("recorded run has no snapshots")
			}
			rep := &Repeated{Runs: []*RunOut{{res, nil}}, spill: t.TempDir()}
			if err := rep.keep(0, res, nil, encodeResult); err != nil {
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
			docs, err := rep.Documents()
			if err != nil || len(docs) != 1 {
				t.Fatalf("Documents: %d, %v; want the one run's", len(docs), err)
			}
			defer docs[0].Close()
			var d struct{ Result *Result }
			if err := json.NewDecoder(docs[0]).Decode(&d); err != nil {
				t.Fatal(err)
			}
			if got := snapshots(d.Result); got != before {
				t.Errorf("document on disk has %d snapshots, want all %d", got, before)
			}
			if err := rep.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(rep.spill); !os.IsNotExist(err) {
				t.Errorf("Close left %s: %v", rep.spill, err)
			}
		})
	}
	// A run that could not finish keeps it all, as a failed one does.
	res := recordedResult(t, "../report/testdata/run-fork-storm-debian-6.1.json.gz")
	before := snapshots(res)
	rep := &Repeated{Runs: []*RunOut{{res, nil}}}
	if err := rep.keep(0, res, &InfraError{Step: "boot", Err: os.ErrDeadlineExceeded}, encodeResult); err != nil {
		t.Fatal(err)
	}
	if got := snapshots(res); got != before {
		t.Errorf("cut-short run: %d snapshots kept, want %d", got, before)
	}
	// A spill dir gone: the error names --json.
	rep = &Repeated{Runs: []*RunOut{{res, nil}}, spill: filepath.Join(t.TempDir(), "gone")}
	if err := rep.keep(0, res, nil, encodeResult); err == nil {
		t.Error("no error writing into a missing dir")
	}
}
