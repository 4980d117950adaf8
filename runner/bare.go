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

// Bare boots the kernel once with klptest bench's bare init (a line on
// the console, then power off) instead of the agent, and records when the
// line came: the floor that klptest bench holds the agent's boot against.
// Same QEMU flags and kernel command line as a case boot, so that only
// what runs after the kernel differs.
func Bare(ctx context.Context, o Options) (*Result, error) {
	r := newRun(o)
	defer r.interrupted(ctx)
	img, err := r.prepare(ctx, need{})
	if img == nil {
		return r.res, err
	}
	defer img.release()
	if err == nil {
		if o.RunDir == "" {
			defer os.RemoveAll(img.runDir)
		}
		err = r.bare(ctx, img)
	}
	return r.res, err
}

func (r *run) bare(ctx context.Context, img *image) error {
	o, res, progress, k := &r.o, r.res, r.progress, img.kernel
	arch, err := kernels.LookupArch(o.Arch)
	if err != nil {
		return infra("arch", err)
	}
	progress(StepInitramfs, "build the bare init for "+arch.GOARCH)
	initrd, err := initramfs.BuildBare(ctx, arch.GOARCH, o.Src, o.Cache)
	if err != nil {
		return infra("initramfs", err)
	}
	runDir, accel := img.runDir, img.accel
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
	res.Phases[PhaseVM] += time.Since(t0)
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
	res.Phases[string(StepBoot)] += time.Duration(b.Timing.Ready)
	return nil
}
