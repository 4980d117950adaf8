package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klptest/klptest/bench"
	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/pgroup"
	"github.com/klptest/klptest/progress"
	"github.com/klptest/klptest/runner"
)

// cmdBench measures where a run's time goes: a bare boot against the
// agent's, the suite split into the kernel's waits, the agent's time and
// the host's, the warm single-case loop, snapshot costs and, with --cold,
// a start from an empty cache.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kernel := fs.String("kernel", DefaultKernel, "kernel spec, as for klptest run")
	arch := fs.String("arch", "x86_64", "guest architecture")
	var frags multiFlag
	fs.Var(&frags, "fragment", "src: kernels: an extra config fragment (repeatable)")
	runs := fs.Int("runs", 5, "measure each quantity N times")
	var caseNames multiFlag
	fs.Var(&caseNames, "case", "the suite to time (repeatable; default: all, see `klptest list`)")
	snapTasks := fs.String("snapshot-tasks", "100,1000,10000", "task counts to time snapshots at (\"\" to skip)")
	warm := fs.Bool("warm", true, "time the warm loop, klptest run --case patch, as a command")
	kself := fs.Bool("kselftest", true, "also time the kernel's own livepatch selftests (run --suite kselftest) on the same kernel")
	cold := fs.Bool("cold", false, "also time one run from an empty cache (downloads and builds) to its first verdict")
	jsonOut := fs.String("json", "", "write every sample to this file (schema klptest/bench)")
	from := fs.String("from", "", "measure nothing: print the table of a saved --json document")
	if !parseNoArgs(fs, args) {
		return exitUsage
	}
	if *from != "" {
		return benchFrom(*from, stdout, stderr)
	}
	if !archOK("klptest bench", *arch, stderr) {
		return exitUsage
	}
	if *runs < 1 {
		fmt.Fprintf(stderr, "klptest bench: --runs %d: give a number of runs, 1 or more\n", *runs)
		return exitUsage
	}
	if _, err := cases.Lookup(caseNames); err != nil {
		fmt.Fprintf(stderr, "klptest bench: %v\n", err)
		return exitUsage
	}
	if *snapTasks != "" {
		for _, f := range strings.Split(*snapTasks, ",") {
			if n, err := strconv.Atoi(f); err != nil || n <= 0 {
				fmt.Fprintf(stderr, "klptest bench: --snapshot-tasks %q: give task counts, such as 100,1000,10000\n", *snapTasks)
				return exitUsage
			}
		}
	}
	if !outputsOK("klptest bench", stderr, output{"--json", *jsonOut, false}) {
		return exitUsage
	}
	self, err := os.Executable()
	if err != nil && (*warm || *cold) {
		fmt.Fprintf(stderr, "klptest bench: cannot find klptest's own binary for the command-line runs: %v\n", err)
		return exitInfra
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	pr := progress.New(stderr)
	o := runner.Options{Kernel: *kernel, Fragments: frags, Arch: *arch, Cases: caseNames,
		Progress: func(ev runner.Event) { pr.Step("", string(ev.Step), ev.Detail) }}
	rep := document.NewBench()
	rep.Kernel, rep.Arch, rep.Runs = *kernel, *arch, *runs
	code := runBench(ctx, o, rep, benchPlan{runs: *runs, snapTasks: *snapTasks, warm: *warm, cold: *cold, kselftest: *kself, self: self},
		func(f string, a ...any) { pr.Step("", "bench", fmt.Sprintf(f, a...)) })
	pr.Close()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "klptest: interrupted")
		return exitSIGINT
	}
	rep.WriteTable(stdout)
	if code == exitInfra && len(rep.Errors) > 0 {
		fmt.Fprintf(stderr, "klptest: cannot bench: %s\n", rep.Errors[len(rep.Errors)-1])
	}
	if *jsonOut != "" {
		if err := document.WriteJSON(*jsonOut, rep); err != nil {
			fmt.Fprintf(stderr, "klptest: write --json: %v\n", err)
			return unwritten(code)
		}
	}
	return code
}

// benchFrom prints the table of a saved bench document.
func benchFrom(path string, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "klptest bench: --from: %v\n", err)
		return exitUsage
	}
	r, err := document.DecodeBench(b)
	if err != nil {
		fmt.Fprintf(stderr, "klptest bench: --from %s: %v\n", path, err)
		return exitUsage
	}
	r.WriteTable(stdout)
	return exitPass
}

type benchPlan struct {
	runs      int
	snapTasks string
	warm      bool
	cold      bool
	kselftest bool
	self      string // klptest's binary, for the command-line runs
}

// runBench takes the measurements into rep and returns the exit status:
// 125 when a measurement's machinery failed, 1 when a case failed (its
// timing then is of a failing run), else 0.
func runBench(ctx context.Context, o runner.Options, rep *bench.Report, p benchPlan, note func(string, ...any)) int {
	code := exitPass
	infraFail := func(what string, err error) {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", what, err))
		code = exitInfra
	}
	// Warm the caches first, so that every measured run finds its kernel,
	// modules and images built.
	note("warm-up: one bare boot and one run of patch")
	res, err := runner.Bare(ctx, o)
	if err != nil {
		infraFail("warm-up", err)
		return code
	}
	if res.Kernel != nil {
		rep.Release = res.Kernel.Release
	}
	rep.Accel, rep.QEMU, rep.Klptest = res.Accel, res.QEMU, res.Klptest
	ow := o
	ow.Cases = []string{"patch"}
	if _, err := runner.Run(ctx, ow); err != nil {
		infraFail("warm-up run", err)
		return code
	}
	// Bare boots and suite runs alternate, so that a drift in the
	// machine's load touches both alike.
	for i := 1; i <= p.runs && ctx.Err() == nil; i++ {
		note("bare boot %d/%d", i, p.runs)
		res, err := runner.Bare(ctx, o)
		if err != nil {
			infraFail("bare boot", err)
			return code
		}
		rep.Bare = append(rep.Bare, time.Duration(res.Boots[0].Timing.Ready))
		note("suite %d/%d", i, p.runs)
		t0 := time.Now()
		res, err = runner.Run(ctx, o)
		wall := time.Since(t0)
		if err != nil {
			infraFail("suite run", err)
			return code
		}
		if res.Failed() {
			var failed []string
			for _, v := range res.Verdicts {
				if !v.Pass {
					failed = append(failed, v.Case)
				}
			}
			rep.Errors = append(rep.Errors, fmt.Sprintf("suite run %d: %s failed; its timing is of a failing run", i, strings.Join(failed, ", ")))
			code = exitFail
		}
		rep.Suite = append(rep.Suite, bench.NewRun(res, wall))
	}
	if p.kselftest && ctx.Err() == nil {
		ok := o
		ok.Suite, ok.Cases = runner.SuiteKselftest, nil
		// Its first run builds what the selftests need (a src: kernel
		// with their config, their modules, the userland), unmeasured.
		note("kernel selftests: warm-up")
		if _, err := runner.Run(ctx, ok); err != nil {
			infraFail("kernel selftests", err)
		} else {
			for i := 1; i <= p.runs && ctx.Err() == nil; i++ {
				note("kernel selftests %d/%d", i, p.runs)
				t0 := time.Now()
				res, err := runner.Run(ctx, ok)
				wall := time.Since(t0)
				if err != nil {
					infraFail("kernel selftests", err)
					break
				}
				if res.Failed() {
					rep.Errors = append(rep.Errors, fmt.Sprintf("kernel selftests run %d: a script failed; its timing is of a failing run", i))
					code = exitFail
				}
				rep.Kselftest = append(rep.Kselftest, bench.NewRun(res, wall))
			}
		}
	}
	if p.warm {
		for i := 1; i <= p.runs && ctx.Err() == nil; i++ {
			note("warm loop %d/%d: klptest run --case patch", i, p.runs)
			d, err := timeCommand(ctx, p.self, nil, runArgs(o, "--case", "patch")...)
			if err != nil {
				infraFail("warm loop", err)
				break
			}
			rep.Warm = append(rep.Warm, d)
		}
	}
	if p.snapTasks != "" && ctx.Err() == nil {
		note("snapshot cost at %s tasks", p.snapTasks)
		res, err := runner.BenchSnapshots(ctx, o, p.snapTasks)
		switch {
		case err != nil:
			infraFail("snapshot cost", err)
		case len(res.Boots) == 0 || res.Boots[0].Trace == nil || len(res.Boots[0].Trace.Bench) == 0:
			infraFail("snapshot cost", errors.New("the agent reported no measurement"))
		default:
			rep.Snapshots = bench.SnapshotRates(res.Boots[0].Trace)
			for _, e := range res.Boots[0].Trace.Errors {
				infraFail("snapshot cost", errors.New(e))
			}
		}
	}
	if p.cold && ctx.Err() == nil {
		note("cold start: an empty cache to the first verdict")
		c, err := coldStart(ctx, p.self, o)
		if err != nil {
			infraFail("cold start", err)
		} else {
			rep.Cold = c
		}
	}
	return code
}

// runArgs is klptest run's command line for o's kernel, plus extra.
func runArgs(o runner.Options, extra ...string) []string {
	a := []string{"run", "--kernel", o.Kernel, "--arch", o.Arch}
	for _, f := range o.Fragments {
		a = append(a, "--fragment", f)
	}
	return append(a, extra...)
}

// timeCommand runs klptest as a user would and times it, command to exit.
func timeCommand(ctx context.Context, self string, env []string, args ...string) (time.Duration, error) {
	cmd := pgroup.Command(ctx, self, args...)
	cmd.Env = append(os.Environ(), env...)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("klptest %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 20))
	}
	return d, nil
}

// coldStart runs klptest with a cache of its own, empty, and reads the
// run's steps from its document. XDG_CACHE_HOME also holds Go's build
// cache (unless GOCACHE says otherwise), so the guest binaries build cold
// too, as on a new machine; Go's module cache stays.
func coldStart(ctx context.Context, self string, o runner.Options) (*bench.ColdStart, error) {
	dir, err := os.MkdirTemp("", "klptest-cold-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	doc := filepath.Join(dir, "run.json")
	d, err := timeCommand(ctx, self, []string{"XDG_CACHE_HOME=" + filepath.Join(dir, "cache")}, runArgs(o, "--case", "patch", "--json", doc)...)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		return nil, err
	}
	dd, err := document.DecodeRun(b)
	if err != nil {
		return nil, err
	}
	return &bench.ColdStart{Wall: d, Steps: dd.Result.Phases}, nil
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
