// Command klptest tests the kernel's livepatch per-task consistency model
// in real kernels under QEMU. It only wires the packages together: runner
// runs (one run, or a --repeat's runs and klptest matrix's cells on its
// scheduler), report renders, document writes and reads the --json files,
// matrix, bench, bisect and mutants own their commands' work, kernels and cachefs
// the kernels and the cache, cases the case list, progress the progress
// lines, pgroup bench's klptest children. It parses flags, checks every
// path it will write before any work, and prints.
//
// Exit status: 0 all cases passed, 1 a case failed, 2 usage error, 125
// klptest could not test (fetch, build or boot failed; `git bisect run`
// skips those), 130/143 interrupted. klptest bisect: 0 found the first bad
// commit, 1 the ends do not pass and fail as given or skipped commits hide
// it, 125 it could not bisect.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/klptest/klptest/cachefs"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
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
  mutants --src DIR [--arch A] [--only ID]... [--case NAME]... [--list] [--md FILE] [--json FILE] [--resume FILE]
         plant each livepatch-core bug of the corpus in DIR, test it, restore: the suite's mutation score

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
	extra := fs.Args()
	if arg == "" && len(extra) > 0 {
		arg, extra = extra[0], extra[1:]
	}
	if len(extra) > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), extra[0])
		fs.Usage()
		return "", false
	}
	return arg, true
}

// parseNoArgs parses flags and refuses any argument, with the usage, as
// the flag set refuses an unknown flag.
func parseNoArgs(fs *flag.FlagSet, args []string) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return false
	}
	return true
}

// cmdList lists the cases, and with --demos the demos and faults.
func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demos := fs.Bool("demos", false, "also the demos that break the kernel on purpose")
	if !parseNoArgs(fs, args) {
		return exitUsage
	}
	for _, c := range cases.All() {
		fmt.Fprintf(stdout, "%-16s %s\n", c.Name, c.Doc)
	}
	for _, c := range cases.Longs() {
		fmt.Fprintf(stdout, "%-16s (long: runs only when named) %s\n", c.Name, c.Doc)
	}
	for _, c := range cases.Knowns() {
		fmt.Fprintf(stdout, "%-16s (finds %s: runs only when named) %s\n", c.Name, c.Known, c.Doc)
	}
	if *demos {
		for _, c := range append(cases.Demos(), cases.Faults()...) {
			fmt.Fprintf(stdout, "%-22s %s\n", c.Name, c.Doc)
		}
	}
	return exitPass
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
		return cmdList(args[1:], stdout, stderr)
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
	case "mutants":
		return cmdMutants(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return exitPass
	}
	fmt.Fprintf(stderr, "klptest: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
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

func kernelName(r *runner.Result) string {
	if r.Kernel == nil {
		return "?"
	}
	return r.Kernel.Name + " " + r.Kernel.Release
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
		if v.Counts != nil {
			fmt.Fprintf(w, "    counts: %s\n", cases.CountsString(v.Counts))
		}
		for _, x := range v.Violations {
			fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(x.String(), "\n", "\n    "))
		}
		if !v.Pass {
			printForensics(w, res, v.Case)
		}
	}
}
