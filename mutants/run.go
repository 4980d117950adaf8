package mutants

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/runner"
)

// Suite runs klptest's cases on the kernel tree as its files are now
// (klptest mutants: runner.Run with Kernel "src:"+the tree).
type Suite func(ctx context.Context) (*runner.Result, error)

// Options say what Run mutates and how it runs the suite.
type Options struct {
	Src     string   // the kernel source tree; its files are edited in place, and restored
	Arch    string   // which mutants are Equivalent, and the report's label
	Mutants []Mutant // in order
	Cases   []string // the report's label: the cases the Suite runs
	Suite   Suite
	// Progress says what Run is doing; nil = nothing.
	Progress func(format string, a ...any)
	Now      func() time.Time // nil = time.Now
	// Record is given the report so far after the baseline and after each
	// mutant: a run of hours killed outright (SIGKILL, a lost machine)
	// keeps every outcome it measured. An error stops the run: results
	// that cannot be kept are not worth hours more. nil = nothing.
	Record func(*Report) error
	// Earlier is an earlier run's report (klptest mutants --resume), which
	// Resumable has accepted: a mutant it has an outcome for is not run
	// again, and the outcome is kept as it was. The baseline still runs,
	// and must be the same kernel release and klptest as Earlier's: an
	// outcome says what that klptest caught on that kernel.
	Earlier *Report
}

// Outcome is one mutant's result.
type Outcome struct {
	ID   string `json:"id"`
	File string `json:"file"`
	Func string `json:"function"`
	Desc string `json:"description"`
	Classification
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// Report is a whole run: the pristine tree's outcome and every mutant's.
// It is the --json document (Version 1).
type Report struct {
	Version  int            `json:"version"`
	Src      string         `json:"src"`
	Arch     string         `json:"arch"`
	Kernel   string         `json:"kernel,omitempty"` // the pristine tree's release
	Klptest  string         `json:"klptest,omitempty"`
	Cases    []string       `json:"cases,omitempty"` // empty: all
	Started  time.Time      `json:"started"`
	Baseline Classification `json:"baseline"`
	Mutants  []Outcome      `json:"mutants"`
}

// BaselineError is a pristine tree the suite does not pass: every mutant
// would read as killed (or as could not test), so none is run.
type BaselineError struct{ Classification }

func (e *BaselineError) Error() string {
	msg := "the pristine tree is " + string(e.Kind)
	if len(e.Rules) > 0 {
		msg += fmt.Sprintf(" %v", e.Rules)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg + "; fix that first (a baseline that fails makes every mutant \"killed\")"
}

// backupSuffix names the copy of a file's original text kept beside it
// while a mutant is planted, for a run killed before it restored the file.
const backupSuffix = ".klptest-mutants-orig"

// Run runs the suite on the pristine tree, and stops with a
// *BaselineError if it does not survive; then plants each mutant in turn
// (or marks it Equivalent on the arch), runs the suite and classifies the
// outcome, restoring the file after each whatever happened: an error, a
// panic, an interrupt. A file left mutated by a run that was killed is
// restored from its backup first. It stops at ctx's end, and at an error
// that leaves the tree's state unknown; the Report holds what was done.
func Run(ctx context.Context, o Options) (*Report, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	say := o.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	rep := &Report{Version: 1, Src: o.Src, Arch: o.Arch, Cases: o.Cases, Started: now()}
	if err := recoverLeftovers(o.Src, o.Mutants, say); err != nil {
		return rep, err
	}
	// Every mutant must apply before an hour of builds starts.
	for _, m := range o.Mutants {
		b, err := os.ReadFile(filepath.Join(o.Src, m.File))
		if err != nil {
			return rep, err
		}
		if _, err := Apply(b, m); err != nil {
			return rep, err
		}
	}

	say("baseline: the pristine tree")
	res, err := o.Suite(ctx)
	rep.Baseline = Classify(res, err)
	if res != nil && res.Kernel != nil {
		rep.Kernel = res.Kernel.Release
		rep.Klptest = res.Klptest
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if rep.Baseline.Kind != Survived {
		return rep, errors.Join(&BaselineError{rep.Baseline}, record(o.Record, rep))
	}
	earlier := map[string]Outcome{}
	if e := o.Earlier; e != nil {
		if e.Kernel != rep.Kernel || e.Klptest != rep.Klptest {
			return rep, fmt.Errorf("the run resumed was kernel %s with klptest %s, this is kernel %s with klptest %s: its outcomes need not hold; run without --resume", e.Kernel, e.Klptest, rep.Kernel, rep.Klptest)
		}
		for _, m := range e.Mutants {
			if m.Kind != Equivalent { // the corpus decides those, now
				earlier[m.ID] = m
			}
		}
	}
	if err := record(o.Record, rep); err != nil {
		return rep, err
	}
	for i, m := range o.Mutants {
		out := Outcome{ID: m.ID, File: m.File, Func: m.Func, Desc: m.Desc}
		if why, ok := m.Equivalent[o.Arch]; ok { // the corpus now, also over an earlier outcome
			out.Classification = Classification{Kind: Equivalent, Detail: why}
			rep.Mutants = append(rep.Mutants, out)
			say("%d/%d %s: equivalent on %s", i+1, len(o.Mutants), m.ID, o.Arch)
			continue
		}
		if e, ok := earlier[m.ID]; ok {
			rep.Mutants = append(rep.Mutants, e)
			say("%d/%d %s: %s %v (an earlier run's)", i+1, len(o.Mutants), m.ID, e.Kind, e.Rules)
			continue
		}
		say("%d/%d %s: %s", i+1, len(o.Mutants), m.ID, m.Desc)
		start := now()
		c, err := plant(ctx, o.Src, m, o.Suite)
		if err != nil {
			return rep, err
		}
		if ctx.Err() != nil {
			return rep, ctx.Err() // an interrupted run's outcome means nothing
		}
		out.Classification, out.Duration = c, now().Sub(start)
		rep.Mutants = append(rep.Mutants, out)
		say("%d/%d %s: %s %v", i+1, len(o.Mutants), m.ID, c.Kind, c.Rules)
		if err := record(o.Record, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// record hands rep to Record, if there is one.
func record(f func(*Report) error, rep *Report) error {
	if f == nil {
		return nil
	}
	if err := f(rep); err != nil {
		return fmt.Errorf("record the results so far: %w", err)
	}
	return nil
}

// Resumable says why an earlier run's report cannot be resumed with
// this arch and these cases, or nil. The tree's path may differ (a copy
// moved); Run checks its release against the new baseline's.
func Resumable(earlier *Report, arch string, cases []string) error {
	switch {
	case earlier.Version != 1 || earlier.Arch == "" || earlier.Src == "":
		return fmt.Errorf("not a klptest mutants --json report of version 1 (version %d, arch %q, src %q)", earlier.Version, earlier.Arch, earlier.Src)
	case earlier.Arch != arch:
		return fmt.Errorf("it ran on %s, not %s: give --arch %s, or run without --resume", earlier.Arch, arch, earlier.Arch)
	case !slices.Equal(earlier.Cases, cases):
		return fmt.Errorf("it ran the cases %q, not %q: give the same --case flags, or run without --resume", earlier.Cases, cases)
	case earlier.Baseline.Kind != Survived:
		return fmt.Errorf("its pristine tree was %s: there is nothing to resume", earlier.Baseline.Kind)
	}
	return nil
}

// plant applies m to its file in src, runs the suite, and restores the
// file's bytes and mode, also when the suite panics. The mtime is left
// new: kbuild must rebuild the restored file. The error is only the
// tree's (a file that could not be read, mutated or restored).
func plant(ctx context.Context, src string, m Mutant, suite Suite) (c Classification, err error) {
	path := filepath.Join(src, m.File)
	st, err := os.Stat(path)
	if err != nil {
		return c, err
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	mutated, err := Apply(orig, m)
	if err != nil {
		return c, err
	}
	// The backup is whole before the file changes: a run killed at any
	// point leaves either the original or the backup of it.
	if err := document.WriteFile(path+backupSuffix, func(w io.Writer) error { _, err := w.Write(orig); return err }); err != nil {
		return c, fmt.Errorf("back up %s: %w", m.File, err)
	}
	defer func() {
		if rerr := restore(path, orig, st.Mode().Perm()); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore %s after mutant %s: %w (its original is in %s)", m.File, m.ID, rerr, path+backupSuffix))
		}
	}()
	if err := os.WriteFile(path, mutated, st.Mode().Perm()); err != nil {
		return c, fmt.Errorf("plant mutant %s in %s: %w", m.ID, m.File, err)
	}
	res, serr := suite(ctx)
	return Classify(res, serr), nil
}

// restore writes orig back to path, checks it reads back so, and only then
// drops the backup.
func restore(path string, orig []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, orig, perm); err != nil {
		return err
	}
	if err := os.Chmod(path, perm); err != nil {
		return err
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, orig) {
		return errors.New("the file does not read back as its original")
	}
	return os.Remove(path + backupSuffix)
}

// recoverLeftovers restores every file a killed run left mutated, from its
// backup.
func recoverLeftovers(src string, ms []Mutant, say func(string, ...any)) error {
	done := map[string]bool{}
	for _, m := range append(Corpus(), ms...) { // also the files a --only left out
		path := filepath.Join(src, m.File)
		if done[path] {
			continue
		}
		done[path] = true
		orig, err := os.ReadFile(path + backupSuffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		say("%s: restoring it from %s, which an earlier run left", m.File, filepath.Base(path+backupSuffix))
		if err := restore(path, orig, st.Mode().Perm()); err != nil {
			return fmt.Errorf("restore %s from %s: %w", m.File, path+backupSuffix, err)
		}
	}
	return nil
}

// Score counts the outcomes by kind.
func (r *Report) Score() map[Kind]int {
	n := map[Kind]int{}
	for _, o := range r.Mutants {
		n[o.Kind]++
	}
	return n
}

// AllKilled says whether every mutant run was killed by a named rule.
func (r *Report) AllKilled() bool {
	for _, o := range r.Mutants {
		if o.Kind != Killed && o.Kind != Equivalent {
			return false
		}
	}
	return true
}
