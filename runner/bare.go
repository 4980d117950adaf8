package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/klptest/klptest/guest/bare"
	"github.com/klptest/klptest/initramfs"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/vm"
)

// bareBoot boots k with the bare init (a line on the console, then power
// off) and records when the line came: the floor that klptest bench holds
// the agent's boot against. Same QEMU flags and kernel command line as a
// case boot, so that only what runs after the kernel differs.
func bareBoot(ctx context.Context, o Options, k *kernels.Spec, res *Result, progress progressFunc) error {
	arch, err := kernels.LookupArch(o.Arch)
	if err != nil {
		return infra("arch", err)
	}
	progress(StepInitramfs, "build the bare init for "+arch.GOARCH)
	initrd, err := initramfs.BuildBare(ctx, arch.GOARCH, o.Src, o.Cache)
	if err != nil {
		return infra("initramfs", err)
	}
	runDir := o.RunDir
	if runDir == "" {
		if runDir, err = os.MkdirTemp("", "klptest-bare-"); err != nil {
			return infra("run dir", err)
		}
		defer os.RemoveAll(runDir)
	} else if err := os.MkdirAll(runDir, 0o700); err != nil {
		return infra("run dir", fmt.Errorf("--out %s: %w", runDir, err))
	}
	accel := o.Accel
	if accel == "" {
		accel = vm.DetectAccel("", o.Arch)
	}
	res.Accel = accel
	res.QEMU, _ = vm.QEMUVersion("", o.Arch)
	consoleLog := filepath.Join(runDir, "console-bare.log")
	b := &Boot{ConsoleLog: consoleLog}
	res.Boots = append(res.Boots, b)
	cfg := vm.Config{Arch: o.Arch, Kernel: k.Image, Initrd: initrd, ConsoleLog: consoleLog, Accel: accel,
		Cmdline: []string{"quiet", "log_buf_len=8M"}}
	vctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	progress(StepBoot, fmt.Sprintf("%s on %s (%s): bare init", k.Release, o.Arch, accel))
	t0 := time.Now()
	m, err := vm.Start(vctx, cfg)
	if err != nil {
		return infra("boot", err)
	}
	defer m.Stop(2 * time.Second)
	b.QEMU = m.CommandLine()
	// The console goes to a file; a poll every 2 ms finds the line well
	// within the spread of boot times.
	found := make(chan int64, 1)
	stop := make(chan struct{})
	go func() {
		want := []byte(bare.Line)
		for {
			if c, err := os.ReadFile(consoleLog); err == nil && bytes.Contains(c, want) {
				found <- int64(time.Since(t0))
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	exit, werr := m.Wait()
	close(stop)
	b.Exit = exit
	b.Timing.Exit = int64(time.Since(t0))
	res.Steps["vm"] += time.Since(t0)
	select {
	case b.Timing.Ready = <-found:
	default:
		if c, err := os.ReadFile(consoleLog); err == nil && bytes.Contains(c, []byte(bare.Line)) {
			// Printed just before the power-off, after the last poll.
			b.Timing.Ready = b.Timing.Exit
		}
	}
	if ctx.Err() != nil {
		b.Incomplete, res.Incomplete = "interrupted", "interrupted"
		return ctx.Err()
	}
	if werr != nil && exit == nil {
		return infra("vm", werr)
	}
	if b.Timing.Ready == 0 {
		return infra("boot", fmt.Errorf("the bare init's line %q did not reach the console within %v; QEMU: %v\n%s", bare.Line, BootTimeout, exit, consoleTail(exit)))
	}
	res.Steps["boot"] += time.Duration(b.Timing.Ready)
	return nil
}
