package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/mutants"
	"github.com/klptest/klptest/progress"
	"github.com/klptest/klptest/runner"
)

// cmdMutants measures which single-point bugs in the kernel's livepatch
// core the suite catches: each mutant planted in --src in turn, the tree
// built, booted and tested, and the file restored.
func cmdMutants(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest mutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "", "kernel source tree (linux-source 7.2) to mutate in place; every file is restored (required unless --list)")
	arch := fs.String("arch", "x86_64", "guest architecture")
	list := fs.Bool("list", false, "list the mutants and exit")
	md := fs.String("md", "", "write the results as a markdown section for docs/mutants.md to this file")
	jsonOut := fs.String("json", "", "write every outcome to this file, after each mutant")
	resume := fs.String("resume", "", "keep the outcomes of an earlier run's --json FILE and run only the mutants it lacks (same --arch, --case, kernel and klptest)")
	var only, caseNames multiFlag
	fs.Var(&only, "only", "run only this mutant (repeatable; default: all)")
	fs.Var(&caseNames, "case", "case to run on each mutant (repeatable; default: all)")
	if !parseNoArgs(fs, args) {
		return exitUsage
	}
	ms, err := mutants.Select(only)
	if err != nil {
		fmt.Fprintf(stderr, "klptest mutants: %v\n", err)
		return exitUsage
	}
	if *list {
		for _, m := range ms {
			fmt.Fprintf(stdout, "%-36s %-46s %s\n", m.ID, m.Short(), m.Desc)
		}
		return exitPass
	}
	if *src == "" {
		fmt.Fprintln(stderr, "klptest mutants: --src is required, e.g. klptest mutants --src ~/linux-source-7.2 --md mutants.md")
		return exitUsage
	}
	if _, err := kernels.LookupArch(*arch); err != nil {
		fmt.Fprintf(stderr, "klptest mutants: --arch: %v\n", err)
		return exitUsage
	}
	if _, err := cases.Lookup(caseNames); err != nil {
		fmt.Fprintf(stderr, "klptest mutants: %v\n", err)
		return exitUsage
	}
	if !outputsOK("klptest mutants", stderr, output{"--md", *md, false}, output{"--json", *jsonOut, false}) {
		return exitUsage
	}
	var earlier *mutants.Report
	if *resume != "" {
		if earlier, err = readReport(*resume); err == nil {
			err = mutants.Resumable(earlier, *arch, caseNames)
		}
		if err != nil {
			fmt.Fprintf(stderr, "klptest mutants: --resume %s: %v\n", *resume, err)
			return exitUsage
		}
	}
	tree, err := filepath.Abs(*src)
	if err != nil {
		fmt.Fprintf(stderr, "klptest mutants: %v\n", err)
		return exitInfra
	}
	if err := kernels.CheckSourceTree(tree, "--src "+*src); err != nil {
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitInfra
	}

	// Every signal is taken until the tree is restored: a second ^C
	// cannot leave it mutated.
	ctx, sigs := interruptible()
	pr := progress.New(stderr)
	suite := func(ctx context.Context) (*runner.Result, error) {
		return runner.Run(ctx, runner.Options{
			Kernel: "src:" + tree, Arch: *arch, Cases: caseNames,
			Progress: func(ev runner.Event) { pr.Step("", string(ev.Step), ev.Detail) },
		})
	}
	// The files are written after each mutant too: a run of hours killed
	// outright keeps what it measured, for --resume.
	write := func(rep *mutants.Report) error {
		var errs []error
		if *md != "" {
			if err := document.WriteFile(*md, func(w io.Writer) error { _, err := w.Write(mutants.Markdown(rep)); return err }); err != nil {
				errs = append(errs, fmt.Errorf("write --md: %w", err))
			}
		}
		if *jsonOut != "" {
			if err := document.WriteJSON(*jsonOut, rep); err != nil {
				errs = append(errs, fmt.Errorf("write --json: %w", err))
			}
		}
		return errors.Join(errs...)
	}
	rep, err := mutants.Run(ctx, mutants.Options{Src: tree, Arch: *arch, Mutants: ms, Cases: caseNames, Suite: suite,
		Progress: pr.Note, Record: write, Earlier: earlier})
	pr.Close()
	sigs.stop()
	for _, o := range rep.Mutants {
		fmt.Fprintf(stdout, "%-15s %-36s %v %s\n", o.Kind, o.ID, o.Rules, o.Detail)
	}

	werr := write(rep)
	if werr != nil {
		fmt.Fprintf(stderr, "klptest: %v\n", werr)
	}
	code := mutantsExit(stdout, stderr, sigs.got(), rep, err)
	if werr != nil {
		return unwritten(code)
	}
	return code
}

// readReport reads a klptest mutants --json file.
func readReport(path string) (*mutants.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r mutants.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("not a klptest mutants --json report: %v", err)
	}
	return &r, nil
}

// mutantsExit says how klptest mutants ends: 0 every mutant run was killed
// by a named rule, 1 one was not (or the pristine tree fails), 125 the
// pristine tree could not be tested or the tree could not be mutated.
func mutantsExit(stdout, stderr io.Writer, got os.Signal, rep *mutants.Report, err error) int {
	var be *mutants.BaselineError
	switch {
	case got == syscall.SIGINT:
		fmt.Fprintln(stderr, "klptest: interrupted; the tree is restored")
		return exitSIGINT
	case got == syscall.SIGTERM:
		fmt.Fprintln(stderr, "klptest: terminated; the tree is restored")
		return exitSIGTERM
	case errors.As(err, &be) && be.Kind == mutants.CouldNotTest:
		fmt.Fprintf(stderr, "klptest: cannot test: %v\n", err)
		return exitInfra
	case errors.As(err, &be):
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitFail
	case err != nil:
		fmt.Fprintf(stderr, "klptest: cannot test: %v\n", err)
		return exitInfra
	}
	n := rep.Score()
	fmt.Fprintf(stdout, "killed %d of %d (crash-only %d, survived %d, could not test %d, equivalent %d)\n",
		n[mutants.Killed], len(rep.Mutants)-n[mutants.Equivalent], n[mutants.CrashOnly], n[mutants.Survived], n[mutants.CouldNotTest], n[mutants.Equivalent])
	if !rep.AllKilled() {
		return exitFail
	}
	return exitPass
}
