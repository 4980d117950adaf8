package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/progress"
	"github.com/klptest/klptest/report"
	"github.com/klptest/klptest/runner"
)

// runFlags are klptest run's flags.
type runFlags struct {
	o            runner.Options
	shellOnFail  bool
	cases, frags multiFlag
	verbose      bool
	repeat, jobs int
	reportFlags
}

// parseRun parses klptest run's flags and checks them, and the paths it
// will write, before any work: ok is false if they will not do (said on
// stderr).
func parseRun(args []string, stderr io.Writer) (f *runFlags, ok bool) {
	f = &runFlags{}
	o := &f.o
	fs := flag.NewFlagSet("klptest run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Kernel, "kernel", DefaultKernel, "kernel spec: debian:SERIES[@VERSION], tree:PATH, src:PATH or src:debian:SERIES")
	fs.StringVar(&o.Arch, "arch", "x86_64", "guest architecture")
	fs.Var(&f.frags, "fragment", "src: kernels: an extra config fragment, klptest's (debug) or a file (repeatable)")
	f.register(fs, reportHelp{
		json:  "write the trace and verdicts to this file",
		junit: "write JUnit XML to this file",
		html:  "write the self-contained HTML report (per-task timelines) to this file",
		ktap:  "print KTAP on stdout instead of the PASS/FAIL lines",
		out:   "keep the console logs and memory dumps in this dir (default: a new temp dir)",
	})
	fs.BoolVar(&f.verbose, "v", false, "verbose: the QEMU command line, the guest console")
	fs.DurationVar(&o.Timeout, "timeout", 0, "bound on the VM's life (default: derived from the cases)")
	fs.Var(&f.cases, "case", "case to run (repeatable; default: all, see `klptest list`)")
	fs.IntVar(&o.StormTasks, "storm-tasks", 0, "fork-storm: tasks to create (default 3000)")
	fs.IntVar(&o.StormSeconds, "storm-seconds", 0, "fork-storm: upper bound on the storm's duration (default 40)")
	fs.BoolVar(&o.Vmcore, "vmcore", false, "on a stalled transition, also dump guest memory (ELF core, for crash or drgn) into the --out dir")
	fs.IntVar(&f.repeat, "repeat", 1, "run the cases N times, each run in fresh boots, and report pass counts per case")
	fs.IntVar(&f.jobs, "jobs", 1, "with --repeat: runs at once after the first (which fills the caches alone); each is a VM, TCG x86_64 takes a core")
	fs.StringVar(&o.Suite, "suite", runner.SuiteKlptest, "what to run: klptest (its cases), kselftest (the kernel's own livepatch selftests, from the kernel's source; --case then names scripts) or all (both, one result)")
	fs.BoolVar(&f.shellOnFail, "shell-on-fail", false, "after a case fails, open a shell in its VM on this terminal (the console is shown throughout; no VM deadline; Ctrl-A x kills the VM)")
	if !parseNoArgs(fs, args) {
		return nil, false
	}
	o.Cases, o.Fragments, o.RunDir = f.cases, f.frags, f.out
	if !archOK("klptest run", o.Arch, stderr) {
		return nil, false
	}
	if err := f.cliOnly(); err != nil {
		fmt.Fprintf(stderr, "klptest run: %v\n", err)
		return nil, false
	}
	if _, err := runner.Validate(*o); err != nil {
		fmt.Fprintf(stderr, "klptest run: %v\n", err)
		return nil, false
	}
	return f, outputsOK("klptest run", stderr, f.outputs()...)
}

// cliOnly checks what runner.Validate does not: the flags of the command
// line's own making.
func (f *runFlags) cliOnly() error {
	switch {
	case f.repeat < 1:
		return fmt.Errorf("--repeat %d: give a number of runs, 1 or more", f.repeat)
	case f.jobs < 1:
		return fmt.Errorf("--jobs %d: give a number of runs at once, 1 or more", f.jobs)
	case f.jobs > 1 && f.repeat == 1:
		return fmt.Errorf("--jobs runs the runs of --repeat at once; give --repeat N too")
	case !f.shellOnFail:
		return nil
	case f.repeat > 1:
		return fmt.Errorf("--shell-on-fail waits for a person, --repeat runs unattended; drop one")
	case f.ktap:
		return fmt.Errorf("--shell-on-fail and --ktap both want stdout (the console, the KTAP stream); drop one, or use --junit FILE")
	case f.o.Timeout != 0:
		return fmt.Errorf("--timeout does not apply with --shell-on-fail (a person at the shell sets the pace); drop one")
	case !term.IsTerminal(int(os.Stdin.Fd())):
		return fmt.Errorf("--shell-on-fail needs a terminal on stdin for the shell; run it from one, or drop the flag")
	}
	return nil
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	f, ok := parseRun(args, stderr)
	if !ok {
		return exitUsage
	}
	ctx, sig := interruptible()
	defer sig.stop()
	o, n := f.o, f.repeat
	// The shell shares the terminal: plain lines then, never a redrawn block.
	var pr progress.Printer
	if f.shellOnFail {
		pr = progress.NewPlain(stderr, time.Now)
		o.ShellOnFail = &runner.Terminal{In: os.Stdin, Out: stdout}
		defer restoreTerminal(os.Stdin)()
	} else {
		pr = progress.New(stderr)
	}
	o.Progress = func(ev runner.Event) { pr.Step("", string(ev.Step), ev.Detail) }
	if f.verbose {
		o.Verbose = func(line string) { pr.Note("%s", line) }
	}
	r := runner.Repeat{Runs: n, Jobs: f.jobs, OutDir: f.out, Encode: document.EncodeRun}
	if n > 1 {
		if f.json != "" {
			r.SpillIn = filepath.Dir(f.json)
		}
		r.Started = func(i int) func(runner.Event) {
			who := fmt.Sprintf("run %d/%d", i, n)
			if f.jobs == 1 {
				pr.Step("", "repeat", who)
				return nil
			}
			return func(ev runner.Event) { pr.Step(who, string(ev.Step), ev.Detail) }
		}
	}
	rep, err := runner.RunRepeat(ctx, o, r)
	defer rep.Close()
	if err != nil {
		pr.Close()
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitInfra
	}
	name := strings.ReplaceAll(o.Kernel, ":", "-") + "-" + o.Arch
	cells := runCells(name, rep.Runs, f.cases)
	// The reports wait for the progress printer to close: its redraws
	// would erase lines written under it.
	var reports bytes.Buffer
	w := io.Writer(&reports)
	if f.shellOnFail {
		w = stdout
	}
	if !f.ktap {
		printRuns(w, cells, n)
	}
	pr.Close()
	sig.stop()
	if f.verbose {
		printConsoles(stderr, cells)
	}
	stdout.Write(reports.Bytes())
	wrote := f.write(stderr, "klptest run "+name, cells, func(path string) error {
		if n == 1 {
			return document.WriteJSON(path, document.NewRun(rep.Runs[0].Result, rep.Runs[0].Err))
		}
		return writeRepeat(path, rep, report.Tallies(cells))
	})
	if f.ktap {
		fmt.Fprint(stdout, report.KTAP(cells))
	} else if n > 1 && len(cells) > 0 {
		fmt.Fprintf(stdout, "# %s; %d runs of %s\n", labels(cells[0]), len(cells), name)
		printWarnings(stdout, cells[0].Result)
		for _, t := range report.Tallies(cells) {
			fmt.Fprintf(stdout, "REPEAT %s\n", t)
		}
	}
	code := runExit(stderr, sig.got(), cells, n)
	if !wrote {
		return unwritten(code)
	}
	return code
}

// runCells are the runs that started, as report cells, in run order.
func runCells(name string, runs []*runner.RunOut, caseNames []string) []report.Cell {
	var cells []report.Cell
	for i, r := range runs {
		if r == nil {
			continue // not started: interrupted, or cut short
		}
		cname := name
		if len(runs) > 1 {
			cname = fmt.Sprintf("%s-run%d", name, i+1)
		}
		cell := report.Cell{Name: cname, Result: r.Result, Cases: caseNames}
		if r.Err != nil {
			cell.Skip = r.Err.Error()
		}
		cells = append(cells, cell)
	}
	return cells
}

// printRuns prints the runs' verdicts: a single run's all, with its
// labels; of a --repeat's runs, those that failed or could not test.
func printRuns(w io.Writer, cells []report.Cell, n int) {
	for i, c := range cells {
		failed := c.Skip != "" || c.Result.Failed()
		if n > 1 && failed {
			fmt.Fprintf(w, "# run %d/%d\n", i+1, n)
		}
		if n == 1 {
			fmt.Fprintf(w, "# %s\n", labels(c))
			printWarnings(w, c.Result)
		}
		printVerdicts(w, c.Result, n == 1)
		if n > 1 && c.Skip != "" {
			fmt.Fprintf(w, "    cannot test: %s\n", report.FirstLine(c.Skip))
		}
	}
}

// printConsoles prints each run's guest consoles (-v).
func printConsoles(w io.Writer, cells []report.Cell) {
	for _, c := range cells {
		for _, b := range c.Result.Boots {
			if out, err := os.ReadFile(b.ConsoleLog); err == nil {
				fmt.Fprintf(w, "klptest: guest console (%s):\n%s\n", b.ConsoleLog, out)
			}
		}
	}
}

// writeRepeat writes --repeat's --json file from the runs' documents kept
// on disk.
func writeRepeat(path string, rep *runner.Repeated, t []document.Tally) error {
	docs, err := rep.Documents()
	if err != nil {
		return err
	}
	runs := make([]io.Reader, len(docs))
	for i, d := range docs {
		defer d.Close()
		runs[i] = d
	}
	return document.WriteFile(path, func(w io.Writer) error { return document.WriteRepeat(w, t, runs) })
}

// runExit says how klptest run ends: interrupted, could not test, a case
// failed, no case ran, or passed.
func runExit(stderr io.Writer, got os.Signal, cells []report.Cell, n int) int {
	var (
		err    error
		failed bool
	)
	for _, c := range cells {
		if c.Skip != "" {
			err = fmt.Errorf("%s", c.Skip)
		}
		failed = failed || c.Result.Failed()
	}
	if n > 1 && failed {
		err = nil // the failures decide the exit status; the skips are listed
	}
	switch {
	case got == syscall.SIGINT:
		fmt.Fprintln(stderr, "klptest: interrupted")
		return exitSIGINT
	case got == syscall.SIGTERM:
		fmt.Fprintln(stderr, "klptest: terminated")
		return exitSIGTERM
	case err != nil:
		fmt.Fprintf(stderr, "klptest: cannot test: %v\n", err)
		return exitInfra
	case failed:
		return exitFail
	case len(cells) == 0 || len(cells[len(cells)-1].Result.Verdicts) == 0:
		fmt.Fprintln(stderr, "klptest: no case ran")
		return exitInfra
	}
	return exitPass
}

// signals is what interrupted a command, if anything.
type signals struct {
	ch   chan os.Signal
	done chan struct{}
	once sync.Once
	sig  os.Signal
}

// interruptible is a context that SIGINT and SIGTERM cancel, and which of
// them did.
func interruptible() (context.Context, *signals) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &signals{ch: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(s.ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer close(s.done)
		defer cancel()
		if sig, ok := <-s.ch; ok {
			s.sig = sig
		}
	}()
	return ctx, s
}

// stop stops taking signals; a second call does nothing.
func (s *signals) stop() {
	s.once.Do(func() {
		signal.Stop(s.ch)
		select {
		case <-s.done: // a signal came
		default:
			close(s.ch)
			<-s.done
		}
	})
}

// got is the signal that came, if one did.
func (s *signals) got() os.Signal { <-s.done; return s.sig }
