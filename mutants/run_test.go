package mutants

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/runner"
)

// fakeC stands in for transition.c.
const fakeC = `void klp_try_switch_task(struct task_struct *task)
{
	if (task_curr(task) && task != current)
		return -EBUSY;
	if (!klp_patch_pending(task))
		return 0;
}
`

var fakeMutants = []Mutant{
	{ID: "tr-running-task-switched", File: transitionC, Func: "klp_try_switch_task", Desc: "running task switched",
		Old: "\tif (task_curr(task) && task != current)", New: "\tif (0 && task_curr(task) && task != current)"},
	{ID: "tr-pending-inverted", File: transitionC, Func: "klp_try_switch_task", Desc: "pending inverted",
		Old: "\tif (!klp_patch_pending(task))", New: "\tif (klp_patch_pending(task))"},
	{ID: "tr-equivalent", File: transitionC, Func: "klp_try_switch_task", Desc: "harmless here",
		Old: "\t\treturn 0;", New: "\t\treturn 0 * 1;", Equivalent: map[string]string{"x86_64": "the same on x86_64"}},
}

// fakeTree is a kernel tree holding only transition.c, read-only to the
// group as a real tree's files might be.
func fakeTree(t *testing.T) (dir, file string) {
	dir = t.TempDir()
	file = filepath.Join(dir, transitionC)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(fakeC), 0o604); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// pristine fails the test unless file holds fakeC with its mode, and no
// backup is left beside it.
func pristine(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, []byte(fakeC)) {
		t.Errorf("%s not restored:\n%s", file, b)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o604 {
		t.Errorf("%s: mode %v, want -rw----r--", file, st.Mode().Perm())
	}
	if _, err := os.Stat(file + backupSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup left beside %s (%v)", file, err)
	}
}

var (
	passed = &runner.Result{Kernel: &kernels.Spec{Release: "7.2.13"}, Verdicts: []runner.Verdict{{Case: "patch", Pass: true}}}
	caught = &runner.Result{Verdicts: []runner.Verdict{{Case: "chain", Violations: []rule.Violation{{Case: "chain", Rule: rule.Chain, Msg: "mixed"}}}}}
	broken = &runner.InfraError{Step: "kernel", Err: errors.New("build failed")}
)

// Run runs the pristine tree, then each mutant planted alone; the suite
// sees the mutated file, the file is restored byte for byte after each, an
// equivalent mutant is not run, and each outcome is classified.
func TestRun(t *testing.T) {
	dir, file := fakeTree(t)
	var seen []string
	calls := []struct {
		res *runner.Result
		err error
	}{{passed, nil}, {caught, nil}, {nil, broken}}
	suite := func(ctx context.Context) (*runner.Result, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, string(b))
		c := calls[len(seen)-1]
		return c.res, c.err
	}
	rep, err := Run(context.Background(), Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Suite: suite})
	if err != nil {
		t.Fatal(err)
	}
	pristine(t, file)
	if len(seen) != 3 {
		t.Fatalf("the suite ran %d times, want 3 (pristine and two mutants)", len(seen))
	}
	if seen[0] != fakeC {
		t.Errorf("the baseline ran on a changed tree:\n%s", seen[0])
	}
	for i, m := range fakeMutants[:2] {
		if want := strings.Replace(fakeC, m.Old, m.New, 1); seen[i+1] != want {
			t.Errorf("%s: the suite saw\n%s\nwant\n%s", m.ID, seen[i+1], want)
		}
	}
	if rep.Baseline.Kind != Survived || rep.Kernel != "7.2.13" {
		t.Errorf("baseline %+v, kernel %q", rep.Baseline, rep.Kernel)
	}
	var got []Classification
	for _, o := range rep.Mutants {
		got = append(got, o.Classification)
	}
	want := []Classification{
		{Kind: Killed, Rules: []rule.Name{rule.Chain}},
		{Kind: CouldNotTest, Detail: "kernel: build failed"},
		{Kind: Equivalent, Detail: "the same on x86_64"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outcomes %+v, want %+v", got, want)
	}
	if rep.AllKilled() {
		t.Errorf("AllKilled with a mutant that could not be tested")
	}
}

// A suite that panics leaves the tree as it was, and the panic goes on.
func TestRunRestoresOnPanic(t *testing.T) {
	dir, file := fakeTree(t)
	n := 0
	suite := func(ctx context.Context) (*runner.Result, error) {
		if n++; n == 2 {
			panic("the suite broke")
		}
		return passed, nil
	}
	defer func() {
		if r := recover(); r != "the suite broke" {
			t.Errorf("recovered %v, want the suite's panic", r)
		}
		pristine(t, file)
	}()
	Run(context.Background(), Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Suite: suite})
	t.Errorf("Run returned past a panic")
}

// An interrupt during a mutant's run stops Run, records no outcome for it
// and restores the file.
func TestRunInterrupted(t *testing.T) {
	dir, file := fakeTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	suite := func(ctx context.Context) (*runner.Result, error) {
		if n++; n == 2 {
			cancel() // SIGINT, mid-run
			return &runner.Result{}, ctx.Err()
		}
		return passed, nil
	}
	rep, err := Run(ctx, Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Suite: suite})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want the interrupt", err)
	}
	if n != 2 || len(rep.Mutants) != 0 {
		t.Errorf("%d suite runs, outcomes %+v: want the run to stop with none", n, rep.Mutants)
	}
	pristine(t, file)
}

// A pristine tree that fails stops everything: no mutant is planted.
func TestRunBaselineFails(t *testing.T) {
	for _, tt := range []struct {
		res  *runner.Result
		err  error
		kind Kind
	}{{caught, nil, Killed}, {&runner.Result{}, broken, CouldNotTest}} {
		dir, file := fakeTree(t)
		n := 0
		suite := func(ctx context.Context) (*runner.Result, error) { n++; return tt.res, tt.err }
		rep, err := Run(context.Background(), Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Suite: suite})
		var be *BaselineError
		if !errors.As(err, &be) || be.Kind != tt.kind {
			t.Errorf("err %v, want a %s baseline", err, tt.kind)
		}
		if n != 1 || len(rep.Mutants) != 0 {
			t.Errorf("%d suite runs, %d outcomes after a failing baseline", n, len(rep.Mutants))
		}
		pristine(t, file)
	}
}

// A mutant that does not apply is refused before the suite runs at all.
func TestRunRefusesMutantNotInTree(t *testing.T) {
	dir, file := fakeTree(t)
	bad := append([]Mutant{}, fakeMutants...)
	bad = append(bad, Mutant{ID: "tr-gone", File: transitionC, Old: "klp_gone();", New: "x"},
		Mutant{ID: "tr-twice", File: transitionC, Old: "\tif (", New: "\tif (0 && "})
	for _, ms := range [][]Mutant{bad[:4], {bad[0], bad[4]}} {
		ran := false
		_, err := Run(context.Background(), Options{Src: dir, Mutants: ms, Suite: func(context.Context) (*runner.Result, error) { ran = true; return passed, nil }})
		if err == nil || ran {
			t.Errorf("mutants %s: err %v, suite ran %v: want refused before any run", ms[len(ms)-1].ID, err, ran)
		}
	}
	pristine(t, file)
}

// A file that a killed run left mutated is restored from its backup
// before anything else.
func TestRunRecoversKilledRun(t *testing.T) {
	dir, file := fakeTree(t)
	if err := os.WriteFile(file+backupSuffix, []byte(fakeC), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(fakeC, fakeMutants[0].Old, fakeMutants[0].New, 1)), 0o604); err != nil {
		t.Fatal(err)
	}
	var baseline string
	n := 0
	suite := func(context.Context) (*runner.Result, error) {
		if n++; n == 1 {
			b, _ := os.ReadFile(file)
			baseline = string(b)
		}
		return passed, nil
	}
	if _, err := Run(context.Background(), Options{Src: dir, Mutants: fakeMutants[:1], Suite: suite}); err != nil {
		t.Fatal(err)
	}
	if baseline != fakeC {
		t.Errorf("the baseline ran on the mutated file a killed run left:\n%s", baseline)
	}
	pristine(t, file)
}

// Record sees the report after the baseline and after each mutant run,
// so that a run killed outright has kept every outcome; a Record that
// fails stops the run with the tree restored.
func TestRunRecords(t *testing.T) {
	dir, file := fakeTree(t)
	suite := func(context.Context) (*runner.Result, error) { return passed, nil }
	var seen []int
	rec := func(r *Report) error { seen = append(seen, len(r.Mutants)); return nil }
	if _, err := Run(context.Background(), Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Suite: suite, Record: rec}); err != nil {
		t.Fatal(err)
	}
	// The equivalent third mutant is not run: the final write has it.
	if want := []int{0, 1, 2}; !reflect.DeepEqual(seen, want) {
		t.Errorf("Record saw %v outcomes, want %v", seen, want)
	}
	pristine(t, file)

	n := 0
	full := errors.New("disk full")
	rep, err := Run(context.Background(), Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Suite: func(context.Context) (*runner.Result, error) { n++; return passed, nil },
		Record: func(r *Report) error {
			if len(r.Mutants) == 1 {
				return full
			}
			return nil
		}})
	if !errors.Is(err, full) || n != 2 || len(rep.Mutants) != 1 {
		t.Errorf("err %v after %d suite runs, %d outcomes: want the run stopped at the failing Record, after the first mutant", err, n, len(rep.Mutants))
	}
	pristine(t, file)
}

// A resumed run keeps the earlier outcomes, runs only the mutants without
// one, and refuses when the baseline is another kernel or klptest.
func TestRunResumes(t *testing.T) {
	dir, file := fakeTree(t)
	passedAs := func(klptest string) *runner.Result {
		r := *passed
		r.Klptest = klptest
		return &r
	}
	first := Outcome{ID: fakeMutants[0].ID, Classification: Classification{Kind: Survived}, Duration: 3}
	earlier := &Report{Version: 1, Src: "/elsewhere", Arch: "x86_64", Kernel: "7.2.13", Klptest: "v1", Baseline: Classification{Kind: Survived},
		Mutants: []Outcome{first, {ID: "tr-equivalent", Classification: Classification{Kind: Survived}} /* run before the corpus called it equivalent */}}
	if err := Resumable(earlier, "x86_64", nil); err != nil {
		t.Fatal(err)
	}
	var seen []string
	suite := func(context.Context) (*runner.Result, error) {
		b, _ := os.ReadFile(file)
		seen = append(seen, string(b))
		if len(seen) == 1 {
			return passedAs("v1"), nil
		}
		return caught, nil
	}
	rep, err := Run(context.Background(), Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Suite: suite, Earlier: earlier})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(fakeC, fakeMutants[1].Old, fakeMutants[1].New, 1); len(seen) != 2 || seen[1] != want {
		t.Errorf("the suite ran on %d trees, want the baseline and %s only", len(seen), fakeMutants[1].ID)
	}
	var got []Kind
	for _, o := range rep.Mutants {
		got = append(got, o.Kind)
	}
	if want := []Kind{Survived, Killed, Equivalent}; !reflect.DeepEqual(got, want) || !reflect.DeepEqual(rep.Mutants[0], first) || rep.Mutants[2].Detail != "the same on x86_64" {
		t.Errorf("outcomes %+v, want the earlier first one kept, the second run, the third equivalent as the corpus now says, over the earlier outcome", rep.Mutants)
	}
	pristine(t, file)

	n := 0
	_, err = Run(context.Background(), Options{Src: dir, Arch: "x86_64", Mutants: fakeMutants, Earlier: earlier,
		Suite: func(context.Context) (*runner.Result, error) { n++; return passedAs("v2"), nil }})
	if err == nil || !strings.Contains(err.Error(), "klptest v1, this is kernel 7.2.13 with klptest v2") || n != 1 {
		t.Errorf("err %v after %d suite runs: want a refusal after the baseline, naming both klptests", err, n)
	}
	pristine(t, file)
}

// Resumable refuses a report of another arch or cases, or one whose
// baseline did not pass, or that is not a mutants report at all.
func TestResumable(t *testing.T) {
	ok := Report{Version: 1, Src: "/t", Arch: "x86_64", Cases: []string{"chain"}, Baseline: Classification{Kind: Survived}}
	for _, tt := range []struct {
		name  string
		edit  func(r *Report)
		cases []string
		want  string // "" = accepted
	}{
		{"same", func(*Report) {}, []string{"chain"}, ""},
		{"arch", func(r *Report) { r.Arch = "arm64" }, []string{"chain"}, "it ran on arm64, not x86_64"},
		{"cases", func(*Report) {}, nil, `it ran the cases ["chain"], not []`},
		{"baseline", func(r *Report) { r.Baseline.Kind = Killed }, []string{"chain"}, "its pristine tree was killed"},
		{"not a report", func(r *Report) { *r = Report{} }, []string{"chain"}, "not a klptest mutants --json report"},
	} {
		r := ok
		tt.edit(&r)
		err := Resumable(&r, "x86_64", tt.cases)
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
