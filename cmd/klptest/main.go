// Command klptest tests the kernel's livepatch per-task consistency model
// in real kernels under QEMU. It only wires the packages together: kernels
// (specs), kmod (test modules), initramfs, vm, runner and check.
//
// Exit status: 0 all cases passed, 1 a case failed, 2 usage error, 125
// klptest could not test (fetch, build or boot failed; `git bisect run`
// skips those), 130/143 interrupted. klptest bisect: 0 found the first bad
// commit, 1 the ends do not pass and fail as given or skipped commits hide
// it, 125 it could not bisect.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/klptest/klptest/cachefs"

	"golang.org/x/term"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/progress"
	"github.com/klptest/klptest/report"
	"github.com/klptest/klptest/runner"
)

const (
	exitPass    = 0
	exitFail    = 1
	exitUsage   = 2
	exitInfra   = 125
	exitSIGINT  = 130
	exitSIGTERM = 143
)

// DefaultKernel is what `klptest run` tests without --kernel.
const DefaultKernel = "debian:6.12"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: klptest COMMAND [flags]

commands:
  run    boot a kernel under QEMU and run livepatch consistency cases
  list   list the cases (--demos: also the demos that break the kernel on purpose)
  kernel build|info SPEC [--arch A] [--fragment F]...
         prepare a kernel (fetch, extract or build, check) and show what klptest knows of it
  matrix [FILE] [--jobs N] [--shard I/N] [--only NAME]... [--list [--format github]] [--json FILE]
         run every cell of a kernels file (default: kernels/kernels.yaml), N VMs at once
  bisect --src PATH --good REV --bad REV [--case NAME]... [--arch A] [--repeat N]
         find the commit that broke a case: build, boot and test each bisection step
  shell  [--kernel SPEC] [--arch A]
         boot the test VM with klptest's modules loaded and get its shell; exit powers it off
  cache  ls | prune --older-than D
         list the cache's entries (size, last use), or remove those unused for D (30d, 12h)
  report RUN.json [--html FILE] [--junit FILE] [--ktap]
         render the reports of a saved run (klptest run --json) again
  bench  [--kernel SPEC] [--arch A] [--runs N] [--case NAME]... [--snapshot-tasks LIST] [--cold] [--json FILE]
         measure where the time goes: a bare boot against the agent's, the suite split into the
         kernel's waits, the agent's and the host's time, the warm loop, snapshot costs

klptest run [--kernel SPEC] [--arch x86_64] [--case NAME]... [--json FILE] [--junit FILE] [--html FILE]
            [--ktap] [-v] [--storm-tasks N] [--storm-seconds S] [--timeout D]
            [--fragment F]... [--out DIR] [--vmcore] [--shell-on-fail] [--repeat N]
  SPEC: debian:SERIES[@VERSION], e.g. debian:6.12 (default), debian:6.1;
        tree:PATH, a kernel tree built in place (or its O= build dir);
        src:PATH, a kernel source tree klptest configures and builds;
        src:debian:SERIES, Debian's linux-source-SERIES, e.g. src:debian:7.2
  F: a config fragment for src: builds: klptest's "debug", or a file
`)
}

// parseWithArg parses flags with one optional positional argument, which
// may come before or after them. ok is false on a flag error or a second
// argument (reported on the flag set's output).
func parseWithArg(fs *flag.FlagSet, args []string) (arg string, ok bool) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	switch {
	case arg == "" && fs.NArg() == 1:
		arg = fs.Arg(0)
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(fs.NArg()-1))
		return "", false
	}
	return arg, true
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Main runs klptest with args and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "list":
		for _, c := range cases.All() {
			fmt.Fprintf(stdout, "%-16s %s\n", c.Name, c.Doc)
		}
		if len(args) > 1 && args[1] == "--demos" {
			for _, c := range append(cases.Demos(), cases.Faults()...) {
				fmt.Fprintf(stdout, "%-22s %s\n", c.Name, c.Doc)
			}
		}
		return exitPass
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "bisect":
		return cmdBisect(args[1:], stdout, stderr)
	case "matrix":
		return cmdMatrix(args[1:], stdout, stderr)
	case "kernel":
		return cmdKernel(args[1:], stdout, stderr)
	case "cache":
		return cmdCache(args[1:], stdout, stderr)
	case "report":
		return cmdReport(args[1:], stdout, stderr)
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "shell":
		return cmdShell(args[1:], os.Stdin, stdout, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return exitPass
	}
	fmt.Fprintf(stderr, "klptest: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var caseNames multiFlag
	kernel := fs.String("kernel", DefaultKernel, "kernel spec: debian:SERIES[@VERSION], tree:PATH, src:PATH or src:debian:SERIES")
	arch := fs.String("arch", "x86_64", "guest architecture")
	var frags multiFlag
	fs.Var(&frags, "fragment", "src: kernels: an extra config fragment, klptest's (debug) or a file (repeatable)")
	jsonOut := fs.String("json", "", "write the trace and verdicts to this file")
	junitOut := fs.String("junit", "", "write JUnit XML to this file")
	htmlOut := fs.String("html", "", "write the self-contained HTML report (per-task timelines) to this file")
	ktap := fs.Bool("ktap", false, "print KTAP on stdout instead of the PASS/FAIL lines")
	verbose := fs.Bool("v", false, "verbose: the QEMU command line, the guest console")
	timeout := fs.Duration("timeout", 0, "bound on the VM's life (default: derived from the cases)")
	fs.Var(&caseNames, "case", "case to run (repeatable; default: all, see `klptest list`)")
	stormTasks := fs.Int("storm-tasks", 0, "fork-storm: tasks to create (default 3000)")
	stormSeconds := fs.Int("storm-seconds", 0, "fork-storm: upper bound on the storm's duration (default 40)")
	vmcore := fs.Bool("vmcore", false, "on a stalled transition, also dump guest memory (ELF core, for crash or drgn) into the --out dir")
	outDir := fs.String("out", "", "keep the console logs and memory dumps in this dir (default: a new temp dir)")
	repeat := fs.Int("repeat", 1, "run the cases N times, each run in fresh boots, and report pass counts per case")
	jobs := fs.Int("jobs", 1, "with --repeat: runs at once after the first (which fills the caches alone); each is a VM, TCG x86_64 takes a core")
	suite := fs.String("suite", runner.SuiteKlptest, "what to run: klptest (its cases), kselftest (the kernel's own livepatch selftests, from the kernel's source; --case then names scripts) or all (both, one result)")
	shellOnFail := fs.Bool("shell-on-fail", false, "after a case fails, open a shell in its VM on this terminal (the console is shown throughout; no VM deadline; Ctrl-A x kills the VM)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "klptest run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if !archOK("klptest run", *arch, stderr) {
		return exitUsage
	}
	if *stormTasks < 0 || *stormSeconds < 0 {
		fmt.Fprintln(stderr, "klptest run: --storm-tasks and --storm-seconds must not be negative")
		return exitUsage
	}
	if *timeout < 0 {
		fmt.Fprintf(stderr, "klptest run: --timeout %v is negative; give a bound such as 5m, or leave it out for one derived from the cases\n", *timeout)
		return exitUsage
	}
	if *repeat < 1 {
		fmt.Fprintf(stderr, "klptest run: --repeat %d: give a number of runs, 1 or more\n", *repeat)
		return exitUsage
	}
	if *jobs < 1 {
		fmt.Fprintf(stderr, "klptest run: --jobs %d: give a number of runs at once, 1 or more\n", *jobs)
		return exitUsage
	}
	if *jobs > 1 && *repeat == 1 {
		fmt.Fprintln(stderr, "klptest run: --jobs runs the runs of --repeat at once; give --repeat N too")
		return exitUsage
	}
	if *shellOnFail {
		switch {
		case *repeat > 1:
			fmt.Fprintln(stderr, "klptest run: --shell-on-fail waits for a person, --repeat runs unattended; drop one")
			return exitUsage
		case *ktap:
			fmt.Fprintln(stderr, "klptest run: --shell-on-fail and --ktap both want stdout (the console, the KTAP stream); drop one, or use --junit FILE")
			return exitUsage
		case *timeout != 0:
			fmt.Fprintln(stderr, "klptest run: --timeout does not apply with --shell-on-fail (a person at the shell sets the pace); drop one")
			return exitUsage
		case !term.IsTerminal(int(os.Stdin.Fd())):
			fmt.Fprintln(stderr, "klptest run: --shell-on-fail needs a terminal on stdin for the shell; run it from one, or drop the flag")
			return exitUsage
		}
	}
	seen := map[string]bool{}
	for _, c := range caseNames {
		if seen[c] {
			fmt.Fprintf(stderr, "klptest run: case %q named twice; each case runs once per run (see --repeat for more)\n", c)
			return exitUsage
		}
		seen[c] = true
	}
	switch *suite {
	case runner.SuiteKlptest:
		for _, n := range caseNames {
			if _, ok := cases.KselftestScript(n); ok {
				fmt.Fprintf(stderr, "klptest run: case %q is one of the kernel's selftests: run it with --suite kselftest\n", n)
				return exitUsage
			}
		}
		if _, err := cases.Lookup(caseNames); err != nil {
			fmt.Fprintf(stderr, "klptest run: %v\n", err)
			return exitUsage
		}
	case runner.SuiteKselftest, runner.SuiteAll:
		if *suite == runner.SuiteAll && len(caseNames) > 0 {
			fmt.Fprintln(stderr, "klptest run: --suite all runs every case of both suites; to name cases, give --suite klptest or kselftest")
			return exitUsage
		}
		// The scripts are known once the kernel's source is at hand.
		if *suite == runner.SuiteKselftest && (*stormTasks != 0 || *stormSeconds != 0 || *vmcore) {
			fmt.Fprintln(stderr, "klptest run: --storm-tasks, --storm-seconds and --vmcore apply to klptest's cases, not to --suite kselftest; drop them")
			return exitUsage
		}
	default:
		fmt.Fprintf(stderr, "klptest run: --suite %q: give klptest (the default), kselftest or all\n", *suite)
		return exitUsage
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var got os.Signal
	go func() {
		if s, ok := <-sigs; ok {
			got = s
			stop()
		}
	}()

	o := runner.Options{
		Kernel:       *kernel,
		Fragments:    frags,
		Arch:         *arch,
		Cases:        caseNames,
		Timeout:      *timeout,
		StormTasks:   *stormTasks,
		StormSeconds: *stormSeconds,
		Vmcore:       *vmcore,
		RunDir:       *outDir,
		Suite:        *suite,
	}
	// The shell shares the terminal: plain lines then, never a redrawn block.
	var pr progress.Printer
	if *shellOnFail {
		pr = progress.NewPlain(stderr, time.Now)
		o.ShellOnFail = &runner.Terminal{In: os.Stdin, Out: stdout}
		defer restoreTerminal(os.Stdin)()
	} else {
		pr = progress.New(stderr)
	}
	o.Progress = func(ev runner.Event) { pr.Step("", string(ev.Step), ev.Detail) }
	if *verbose {
		o.Verbose = func(line string) { pr.Note("%s", line) }
	}
	n := *repeat
	name := strings.ReplaceAll(*kernel, ":", "-") + "-" + *arch
	// The reports wait for the progress printer to close: its redraws
	// would erase lines written under it.
	realStdout := stdout
	var reports bytes.Buffer
	if !*shellOnFail {
		stdout = &reports
	}
	var (
		cells   []report.Cell
		infraOK = true
		failed  bool
		lastErr error
		// -v: each run's guest consoles, printed once progress is done
		consoles []string
	)
	// The runs: one at a time, or with --jobs the first alone (it fills the
	// caches, and a kernel or build that fails fails them all) and the rest
	// that many at once. Their reports follow in run order either way.
	outs := make([]*runOut, n+1)
	// A long --repeat keeps each run's document on disk, beside the --json
	// file, and of a run that passed only what the reports need: a suite's
	// trace on debian:6.12 is over a GiB in memory.
	var spillDir string
	if n > 1 && *jsonOut != "" {
		d, err := os.MkdirTemp(filepath.Dir(*jsonOut), ".klptest-repeat-")
		if err != nil {
			fmt.Fprintf(stderr, "klptest: --json: %v\n", err)
			return exitInfra
		}
		spillDir = d
		defer os.RemoveAll(spillDir)
	}
	runOne := func(i int) error {
		oi := o
		if n > 1 {
			// Fresh boots each time; each run's logs in a dir of its own.
			if *outDir != "" {
				oi.RunDir = filepath.Join(*outDir, fmt.Sprintf("run-%d", i))
				if err := os.MkdirAll(oi.RunDir, 0o700); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
			if *jobs > 1 {
				who := fmt.Sprintf("run %d/%d", i, n)
				oi.Progress = func(ev runner.Event) { pr.Step(who, string(ev.Step), ev.Detail) }
			} else {
				pr.Step("", "repeat", fmt.Sprintf("run %d/%d", i, n))
			}
		}
		res, err := runner.Run(ctx, oi)
		outs[i] = &runOut{res, err}
		if n > 1 {
			spill := ""
			if spillDir != "" {
				spill = filepath.Join(spillDir, fmt.Sprintf("run-%d.json", i))
			}
			return keepRun(spill, res, err)
		}
		return nil
	}
	// lastRun says whether run i ends the runs: interrupted, or failed
	// before any boot (no QEMU, no kernel, a build), as every further run
	// would.
	lastRun := func(i int) bool {
		return ctx.Err() != nil || (outs[i].err != nil && len(outs[i].res.Boots) == 0)
	}
	if *jobs == 1 {
		for i := 1; i <= n; i++ {
			if err := runOne(i); err != nil {
				fmt.Fprintf(stderr, "klptest: %v\n", err)
				return exitInfra
			}
			if lastRun(i) {
				break
			}
		}
	} else {
		if err := runOne(1); err != nil {
			fmt.Fprintf(stderr, "klptest: %v\n", err)
			return exitInfra
		}
		if !lastRun(1) {
			next := make(chan int)
			errs := make(chan error, n)
			var wg sync.WaitGroup
			for range min(*jobs, n-1) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						if ctx.Err() != nil {
							continue // interrupted: start no more
						}
						if err := runOne(i); err != nil {
							errs <- err
						}
					}
				}()
			}
		send:
			for i := 2; i <= n; i++ {
				select {
				case next <- i:
				case <-ctx.Done():
					break send
				}
			}
			close(next)
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				fmt.Fprintf(stderr, "klptest: %v\n", err)
				return exitInfra
			}
		}
	}
	for i := 1; i <= n; i++ {
		if outs[i] == nil {
			continue // not started: interrupted, or cut short as above
		}
		res, err := outs[i].res, outs[i].err
		cname := name
		if n > 1 {
			cname = fmt.Sprintf("%s-run%d", name, i)
		}
		cell := report.Cell{Name: cname, Result: res, Cases: caseNames}
		if err != nil {
			cell.Skip = err.Error()
			infraOK, lastErr = false, err
		}
		failed = failed || res.Failed()
		cells = append(cells, cell)
		if *verbose {
			for _, b := range res.Boots {
				if out, rerr := os.ReadFile(b.ConsoleLog); rerr == nil {
					consoles = append(consoles, fmt.Sprintf("klptest: guest console (%s):\n%s\n", b.ConsoleLog, out))
				}
			}
		}
		if !*ktap {
			if n > 1 && (err != nil || res.Failed()) {
				fmt.Fprintf(stdout, "# run %d/%d\n", i, n)
			}
			if n == 1 {
				fmt.Fprintf(stdout, "# %s\n", labels(cell))
				printWarnings(stdout, res)
			}
			printVerdicts(stdout, res, n == 1)
			if n > 1 && err != nil {
				fmt.Fprintf(stdout, "    cannot test: %s\n", report.FirstLine(err.Error()))
			}
		}
	}
	pr.Close()
	signal.Stop(sigs)
	close(sigs)
	stdout = realStdout
	for _, c := range consoles {
		fmt.Fprint(stderr, c)
	}
	stdout.Write(reports.Bytes())

	if *jsonOut != "" {
		var werr error
		if n == 1 {
			werr = writeDocument(*jsonOut, runner.NewDocument(outs[1].res, outs[1].err))
		} else {
			werr = writeRepeatDocument(*jsonOut, spillDir, outs, report.Tallies(cells))
		}
		if werr != nil {
			fmt.Fprintf(stderr, "klptest: %v\n", werr)
		}
	}
	if *junitOut != "" {
		if werr := writeJUnit(*junitOut, cells); werr != nil {
			fmt.Fprintf(stderr, "klptest: %v\n", werr)
		}
	}
	if *htmlOut != "" {
		if werr := writeHTML(*htmlOut, "klptest run "+name, cells); werr != nil {
			fmt.Fprintf(stderr, "klptest: %v\n", werr)
		}
	}
	if *ktap {
		fmt.Fprint(stdout, report.KTAP(cells))
	} else if n > 1 {
		fmt.Fprintf(stdout, "# %s; %d runs of %s\n", labels(cells[0]), len(cells), name)
		printWarnings(stdout, cells[0].Result)
		for _, t := range report.Tallies(cells) {
			fmt.Fprintf(stdout, "REPEAT %s\n", t)
		}
	}
	err := lastErr
	res := cells[len(cells)-1].Result
	if n > 1 && !infraOK && failed {
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
	case len(res.Verdicts) == 0:
		fmt.Fprintln(stderr, "klptest: no case ran")
		return exitInfra
	}
	return exitPass
}

// runOut is one run of a --repeat: its result and why it stopped short.
type runOut struct {
	res *runner.Result
	err error
}

// archOK checks an --arch flag, saying what is known when it is not.
func archOK(cmd, arch string, stderr io.Writer) bool {
	if arch != "x86_64" && arch != "arm64" {
		fmt.Fprintf(stderr, "%s: unknown --arch %q (known: x86_64, arm64)\n", cmd, arch)
		return false
	}
	return true
}

// printForensics prints the evidence of the case's stalls, and where its
// memory dumps are.
func printForensics(w io.Writer, res *runner.Result, caseName string) {
	for _, b := range res.Boots {
		if b.Trace == nil {
			continue
		}
		for _, ct := range b.Trace.Cases {
			if ct.Name != caseName {
				continue
			}
			for _, f := range ct.Forensics {
				fmt.Fprint(w, report.ForensicsText(b.Trace, f, "    "))
			}
		}
		for _, v := range b.Vmcores {
			if v.Case == caseName {
				fmt.Fprintf(w, "    guest memory dump: %s\n", v.Path)
			}
		}
		if h := b.HostForensics; h != nil && h.Case == caseName {
			fmt.Fprint(w, h.Text("    "))
		}
	}
}

// printWarnings prints the known kernel bugs the kernel's config walks
// into, under the labels: a FAIL they explain is read with them.
func printWarnings(w io.Writer, res *runner.Result) {
	if res == nil || res.Kernel == nil {
		return
	}
	for _, s := range res.Kernel.Warnings {
		fmt.Fprintf(w, "# warning: %s\n", s)
	}
}

// labels is a result's labels on one line: kernel, arch, accel, QEMU,
// klptest.
func labels(c report.Cell) string {
	var l []string
	for _, p := range c.Labels() {
		if p[1] != "" && p[0] != report.LabelKernelWarning { // printWarnings' lines
			l = append(l, p[0]+" "+p[1])
		}
	}
	return strings.Join(l, ", ")
}

func writeHTML(path, title string, cells []report.Cell) error {
	b, err := report.HTML(report.BuildHTMLReport(title, cells))
	if err != nil {
		return fmt.Errorf("HTML report: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write --html: %w", err)
	}
	return nil
}

func writeJUnit(path string, cells []report.Cell) error {
	b, err := report.JUnit(cells)
	if err != nil {
		return fmt.Errorf("JUnit: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write --junit: %w", err)
	}
	return nil
}

func kernelName(r *runner.Result) string {
	if r.Kernel == nil {
		return "?"
	}
	return r.Kernel.Name + " " + r.Kernel.Release
}

func writeJSON(path string, res *runner.Result, runErr error) error {
	return writeDocument(path, runner.NewDocument(res, runErr))
}

// keepRun puts a --repeat's run by for the reports at the end: its whole
// document in spill (unless ""), and in memory, of a run that passed, all
// but its timelines. A failed run keeps it all: its verdicts are printed
// with their evidence, and the HTML draws its timelines.
func keepRun(spill string, res *runner.Result, runErr error) error {
	if spill != "" {
		if err := spillDocument(spill, runner.NewDocument(res, runErr)); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if runErr == nil && !res.Failed() {
		for _, b := range res.Boots {
			if b.Trace != nil {
				b.Trace.DropTimelines()
			}
		}
	}
	return nil
}

// spillDocument writes one run's document of a --repeat, for
// writeRepeatDocument to take at the end.
func spillDocument(path string, d runner.Document) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = json.NewEncoder(bw).Encode(d)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeRepeatDocument writes --repeat's --json file from the runs'
// documents in spillDir, those of the runs that started, in run order.
func writeRepeatDocument(path, spillDir string, outs []*runOut, t []report.Tally) error {
	var runs []io.Reader
	for i, o := range outs {
		if o == nil {
			continue
		}
		f, err := os.Open(filepath.Join(spillDir, fmt.Sprintf("run-%d.json", i)))
		if err != nil {
			return fmt.Errorf("write --json: %w", err)
		}
		defer f.Close()
		runs = append(runs, f)
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	err = report.WriteRepeatDocument(out, t, runs)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}

// writeDocument writes a --json document.
func writeDocument(path string, d any) error {
	// Compact: a whole suite's trace holds thousands of snapshots.
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}

func cmdKernel(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "build" && args[0] != "info") {
		fmt.Fprintln(stderr, "usage: klptest kernel build|info SPEC [--arch A]")
		return exitUsage
	}
	fs := flag.NewFlagSet("klptest kernel "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	arch := fs.String("arch", "x86_64", "architecture")
	var frags multiFlag
	fs.Var(&frags, "fragment", "src: kernels: an extra config fragment (repeatable)")
	spec, ok := parseWithArg(fs, args[1:])
	if !ok {
		return exitUsage
	}
	if spec == "" {
		fmt.Fprintln(stderr, "usage: klptest kernel build|info SPEC [--arch A]")
		return exitUsage
	}
	ref, err := kernels.ParseRef(spec)
	if err != nil {
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitInfra
	}
	cache, err := kernels.CacheDir()
	if err != nil {
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitInfra
	}
	release, err := cachefs.Use(cache)
	if err != nil {
		fmt.Fprintf(stderr, "klptest: cannot test: %v\n", err)
		return exitInfra
	}
	defer release()
	start := time.Now()
	r := kernels.Resolver{Cache: cache, Fragments: frags, Progress: func(f string, a ...any) {
		fmt.Fprintf(stderr, "klptest: [%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(f, a...))
	}}
	k, err := r.Resolve(context.Background(), ref, *arch)
	if err != nil {
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitInfra
	}
	cfg, _ := kernels.ReadConfig(k.Config)
	_, ccText := cfg.Compiler()
	fmt.Fprintf(stdout, "kernel    %s\nrelease   %s\nversion   %s\narch      %s\nimage     %s\nconfig    %s\nbuild dir %s\ncompiler  %s (%s)\n",
		k.Name, k.Release, k.Version, k.Arch, k.Image, k.Config, k.BuildDir, k.CC, ccText)
	if len(k.MakeVars) > 0 {
		fmt.Fprintf(stdout, "make      %s\n", strings.Join(k.MakeVars, " "))
	}
	for _, o := range kernels.Required {
		fmt.Fprintf(stdout, "config    %s=%s\n", o, cfg[o])
	}
	for _, m := range k.GuestModules {
		fmt.Fprintf(stdout, "driver    %s\n", m)
	}
	for _, w := range k.Warnings {
		fmt.Fprintf(stdout, "warning   %s\n", w)
	}
	return exitPass
}

// printVerdicts prints a run's verdicts: every case's, or with all false
// (a repeated run) only the failures.
func printVerdicts(w io.Writer, res *runner.Result, all bool) {
	for _, v := range res.Verdicts {
		if v.Pass && !all {
			continue
		}
		status := "PASS"
		switch {
		case !v.Pass:
			status = "FAIL"
		case v.Skip != "":
			status = "SKIP"
		}
		fmt.Fprintf(w, "%s %s (%s, %s)\n", status, v.Case, kernelName(res), res.Arch)
		if v.Skip != "" {
			fmt.Fprintf(w, "    %s\n", v.Skip)
		}
		for _, x := range v.Violations {
			fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(x.String(), "\n", "\n    "))
		}
		if !v.Pass {
			printForensics(w, res, v.Case)
		}
	}
}
