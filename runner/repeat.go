package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Repeat says how to repeat a run (klptest run --repeat): each run in
// fresh boots, the first alone, the rest Jobs at once.
type Repeat struct {
	Runs int
	Jobs int
	// OutDir, if set, gets a dir per run of a repeat, run-I, for its logs
	// and memory dumps.
	OutDir string
	// SpillIn, if set, is the dir in which each run's document is kept
	// on disk, written by Encode as the run ends, for the --json file at
	// the end: a suite's trace on debian:6.12 is over a GiB in memory.
	SpillIn string
	Encode  func(w io.Writer, res *Result, runErr error) error
	// Started, if set, is told that run i (from 1) starts, and gives its
	// progress function (nil: the Options').
	Started func(i int) func(Event)
}

// RunOut is one run of a repeat: its result and why it stopped short.
type RunOut struct {
	Result *Result
	Err    error
}

// Repeated is what a repeat ran.
type Repeated struct {
	// Runs holds run i at i-1, nil if it did not start: interrupted, or
	// cut short by a run that failed before any boot, as every further
	// run would. Of a run of several that passed, a Result keeps all but
	// its timelines; a failed one keeps it all (its verdicts are printed
	// with their evidence, and the HTML draws its timelines).
	Runs  []*RunOut
	spill string // the runs' documents, SpillIn given
}

// RunRepeat runs o r.Runs times. Its error says the repeat's own work
// failed (a run's dir, a document kept on disk); the runs' own errors are
// in Runs. Close removes the documents kept on disk.
func RunRepeat(ctx context.Context, o Options, r Repeat) (*Repeated, error) {
	rep := &Repeated{Runs: make([]*RunOut, r.Runs)}
	if r.Runs > 1 && r.SpillIn != "" {
		d, err := os.MkdirTemp(r.SpillIn, ".klptest-repeat-")
		if err != nil {
			return rep, fmt.Errorf("--json: %w", err)
		}
		rep.spill = d
	}
	s := Schedule{Jobs: r.Jobs, FirstAlone: true}
	err := s.Run(ctx, r.Runs, func(i int) (bool, error) {
		oi := o
		if r.Runs > 1 && r.OutDir != "" {
			oi.RunDir = filepath.Join(r.OutDir, fmt.Sprintf("run-%d", i+1))
			if err := os.MkdirAll(oi.RunDir, 0o700); err != nil {
				return true, fmt.Errorf("--out: %w", err)
			}
		}
		if r.Started != nil {
			if p := r.Started(i + 1); p != nil {
				oi.Progress = p
			}
		}
		res, err := Run(ctx, oi)
		rep.Runs[i] = &RunOut{res, err}
		stop := ctx.Err() != nil || (err != nil && (res == nil || len(res.Boots) == 0))
		if r.Runs == 1 {
			return stop, nil
		}
		return stop, rep.keep(i, res, err, r.Encode)
	})
	return rep, err
}

// keep puts run i by for the reports at the end: its whole document on
// disk, and in memory, of a run that passed, all but its timelines.
func (rep *Repeated) keep(i int, res *Result, runErr error, encode func(io.Writer, *Result, error) error) error {
	if rep.spill != "" {
		if err := writeSpill(rep.spillPath(i), res, runErr, encode); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if runErr == nil && res != nil && !res.Failed() {
		for _, b := range res.Boots {
			if b.Trace != nil {
				b.Trace.DropTimelines()
			}
		}
	}
	return nil
}

func (rep *Repeated) spillPath(i int) string {
	return filepath.Join(rep.spill, fmt.Sprintf("run-%d.json", i+1))
}

func writeSpill(path string, res *Result, runErr error, encode func(io.Writer, *Result, error) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = encode(f, res, runErr)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Documents opens the documents kept on disk of the runs that started, in
// run order; close each. Nothing was kept without SpillIn, or for a
// single run.
func (rep *Repeated) Documents() ([]io.ReadCloser, error) {
	if rep.spill == "" {
		return nil, nil
	}
	var out []io.ReadCloser
	for i, r := range rep.Runs {
		if r == nil {
			continue
		}
		f, err := os.Open(rep.spillPath(i))
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Close removes the documents kept on disk.
func (rep *Repeated) Close() error {
	if rep.spill == "" {
		return nil
	}
	return os.RemoveAll(rep.spill)
}
