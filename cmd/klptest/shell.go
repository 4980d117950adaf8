package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/progress"
	"github.com/klptest/klptest/runner"
)

// cmdShell boots the test VM, with klptest's modules loaded, and hands the
// user u-root's shell on its console. Leaving the shell powers the VM off.
func cmdShell(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest shell", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kernel := fs.String("kernel", DefaultKernel, "kernel spec: debian:SERIES[@VERSION], tree:PATH, src:PATH or src:debian:SERIES")
	arch := fs.String("arch", "x86_64", "guest architecture")
	var frags multiFlag
	fs.Var(&frags, "fragment", "src: kernels: an extra config fragment (repeatable)")
	outDir := fs.String("out", "", "keep the console log in this dir")
	if !parseNoArgs(fs, args) {
		return exitUsage
	}
	if !archOK("klptest shell", *arch, stderr) || !outputsOK("klptest shell", stderr, output{"--out", *outDir, true}) {
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	defer restoreTerminal(stdin)()
	// The shell shares the terminal: plain lines, never a redrawn block.
	pr := progress.NewPlain(stderr, time.Now)
	res, err := runner.Shell(ctx, runner.Options{
		Kernel: *kernel, Fragments: frags, Arch: *arch, RunDir: *outDir,
		Progress: func(ev runner.Event) { pr.Step("", string(ev.Step), ev.Detail) },
	}, runner.Terminal{In: stdin, Out: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "klptest: cannot start the shell: %v\n", err)
		return exitInfra
	}
	for _, b := range res.Boots {
		if b.Exit != nil {
			fmt.Fprintf(stderr, "klptest: the VM is gone (%s); console log: %s\n", b.Exit, b.ConsoleLog)
		}
	}
	return exitPass
}

// restoreTerminal saves the terminal's state, if stdin is one, and returns
// what puts it back: QEMU makes it raw, and restores it only when it exits
// normally.
func restoreTerminal(stdin io.Reader) func() {
	f, ok := stdin.(*os.File)
	if !ok {
		return func() {}
	}
	st, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return func() {}
	}
	return func() { unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, st) }
}
