package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klptest/klptest/bisect"
	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/progress"
	"github.com/klptest/klptest/report"
	"github.com/klptest/klptest/runner"
)

// cmdBisect drives a whole bisection of a kernel source tree: each step
// builds the checked-out commit (incrementally, in the same build dir),
// boots it and runs the chosen cases.
func cmdBisect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest bisect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "", "kernel source tree, a git repository (required)")
	good := fs.String("good", "", "a commit that passes (required)")
	bad := fs.String("bad", "", "a commit that fails (required)")
	arch := fs.String("arch", "x86_64", "guest architecture")
	repeat := fs.Int("repeat", 1, "runs per step; a step is bad if any run fails")
	jsonOut := fs.String("json", "", "write the steps and the result to this file")
	var caseNames, frags multiFlag
	fs.Var(&caseNames, "case", "case to run at each step (repeatable; default: all)")
	fs.Var(&frags, "fragment", "an extra config fragment (repeatable)")
	if !parseNoArgs(fs, args) {
		return exitUsage
	}
	switch {
	case *src == "" || *good == "" || *bad == "":
		fmt.Fprintln(stderr, "klptest bisect: --src, --good and --bad are required, e.g. klptest bisect --src ~/linux --good v7.1 --bad HEAD --case fork-storm")
		return exitUsage
	case *repeat < 1:
		fmt.Fprintln(stderr, "klptest bisect: --repeat must be at least 1")
		return exitUsage
	}
	if _, err := kernels.LookupArch(*arch); err != nil {
		fmt.Fprintf(stderr, "klptest bisect: --arch: %v\n", err)
		return exitUsage
	}
	if _, err := cases.Lookup(caseNames); err != nil {
		fmt.Fprintf(stderr, "klptest bisect: %v\n", err)
		return exitUsage
	}
	if !outputsOK("klptest bisect", stderr, output{"--json", *jsonOut, false}) {
		return exitUsage
	}
	repo, err := filepath.Abs(*src)
	if err != nil {
		fmt.Fprintf(stderr, "klptest bisect: %v\n", err)
		return exitInfra
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	pr := progress.New(stderr)
	defer pr.Close()
	say := pr.Note
	if err := kernels.CheckSourceTree(repo, "--src "+*src); err != nil {
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitInfra
	}
	step := 0
	test := func(ctx context.Context, commit string) bisect.Outcome {
		step++
		return testCommit(ctx, runner.Options{
			Kernel: "src:" + repo, Arch: *arch, Cases: caseNames, Fragments: frags,
			Progress: func(ev runner.Event) { say("step %d: %-9s %s", step, ev.Step, ev.Detail) },
		}, *repeat, say)
	}
	res, err := bisect.Run(ctx, bisect.Options{Repo: repo, Good: *good, Bad: *bad, Test: test, Progress: say})
	wrote := true
	if *jsonOut != "" {
		werr := document.WriteFile(*jsonOut, func(w io.Writer) error {
			e := json.NewEncoder(w)
			e.SetIndent("", "  ")
			return e.Encode(document.NewBisect(res, err))
		})
		if werr != nil {
			fmt.Fprintf(stderr, "klptest: write --json: %v\n", werr)
			wrote = false
		}
	}
	code := bisectEnd(ctx, stdout, stderr, start, res, err)
	if !wrote {
		return unwritten(code)
	}
	return code
}

// bisectEnd prints how the bisection ended and returns klptest bisect's
// exit status.
func bisectEnd(ctx context.Context, stdout, stderr io.Writer, start time.Time, res *bisect.Result, err error) int {
	if res != nil {
		fmt.Fprintf(stdout, "%d steps in %s:\n", len(res.Steps), time.Since(start).Round(time.Second))
		for _, s := range res.Steps {
			end := ""
			if s.End != "" {
				end = " (the " + s.End + " end)"
			}
			fmt.Fprintf(stdout, "  %.12s %-4s %6s  %s%s\n", s.Commit, s.Verdict, s.Duration.Round(time.Second), s.Subject, end)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "klptest: interrupted; the repository is back where it was")
		return exitSIGINT
	}
	var ends *bisect.EndsError
	switch {
	case errors.As(err, &ends) && ends.Step.Verdict != bisect.Skip.String():
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitFail
	case err != nil:
		fmt.Fprintf(stderr, "klptest: cannot bisect: %v\n", err)
		return exitInfra
	case res.FirstBad == "":
		fmt.Fprintf(stdout, "the first bad commit is one of these (the others could not be tested):\n  %s\n", strings.Join(res.Candidates, "\n  "))
		return exitFail
	}
	fmt.Fprintf(stdout, "first bad commit: %s %s\n  %s\n", res.FirstBad, res.Subject, strings.ReplaceAll(res.Detail, "\n", "\n  "))
	return exitPass
}

// testCommit runs the cases repeat times on the commit checked out: bad if
// any run fails, skip if none fails and one could not test.
func testCommit(ctx context.Context, o runner.Options, repeat int, say func(string, ...any)) bisect.Outcome {
	var skip string
	for i := 0; i < repeat; i++ {
		if repeat > 1 {
			say("run %d of %d", i+1, repeat)
		}
		res, err := runner.Run(ctx, o)
		if res != nil && res.Failed() {
			return bisect.Outcome{Verdict: bisect.Bad, Detail: failure(res)}
		}
		if err != nil {
			if skip == "" {
				skip = err.Error()
			}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if len(res.Verdicts) == 0 && skip == "" {
			skip = "no case ran"
		}
	}
	if skip != "" {
		return bisect.Outcome{Verdict: bisect.Skip, Detail: skip}
	}
	return bisect.Outcome{Verdict: bisect.Good}
}

// failure names a failed run's first failing case and its violations.
func failure(res *runner.Result) string {
	for _, v := range res.Verdicts {
		if v.Pass {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "case %s failed (%s):", v.Case, strings.Join(report.Rules(v), ", "))
		for i, x := range v.Violations {
			if i == 3 {
				fmt.Fprintf(&b, "\n(and %d more)", len(v.Violations)-3)
				break
			}
			fmt.Fprintf(&b, "\n%s", x.String())
		}
		return b.String()
	}
	return ""
}
