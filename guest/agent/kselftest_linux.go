package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/klptest/klptest/wire"
	"golang.org/x/sys/unix"
)

// kselftestOutputMax bounds a script's output kept in the trace: the tail
// holds the failing test and its diff.
const kselftestOutputMax = 64 << 10

// kselftestTimeout bounds one script; the host's VM deadline is longer.
const kselftestTimeout = 9 * time.Minute

var kselftestMounts sync.Once

// mountKselftestRoot gives the chroot the kernel's file systems: the
// scripts read /proc, /sys/kernel/livepatch, debugfs' dynamic_debug and
// kprobes, tracefs, and write /dev/kmsg.
func mountKselftestRoot() error {
	var err error
	kselftestMounts.Do(func() {
		for _, m := range []struct{ src, dst, fs string }{
			{"proc", "/proc", "proc"},
			{"sysfs", "/sys", "sysfs"},
			{"devtmpfs", "/dev", "devtmpfs"},
			{"debugfs", "/sys/kernel/debug", "debugfs"},
			{"tracefs", "/sys/kernel/tracing", "tracefs"},
			{"tmpfs", "/tmp", "tmpfs"},
		} {
			dst := filepath.Join(wire.KselftestRoot, m.dst)
			os.MkdirAll(dst, 0o755)
			if e := unix.Mount(m.src, dst, m.fs, 0, ""); e != nil && !errors.Is(e, unix.EBUSY) {
				// tracefs is optional (the scripts fall back to
				// debugfs/tracing); the rest is not.
				if m.fs != "tracefs" && err == nil {
					err = fmt.Errorf("mount %s in the selftests' root: %w", m.dst, e)
				}
			}
		}
	})
	return err
}

// runKselftest runs one selftest script as the kernel's kselftest runner
// would: from its directory, as root, with the selftests' own environment.
func runKselftest(r *caseRun) {
	script := r.c.Kselftest
	res := &wire.KselftestResult{Script: script, Exit: -1}
	defer func() { r.ev(wire.Event{Type: wire.EvKselftest, Kselftest: res}) }()
	if err := mountKselftestRoot(); err != nil {
		res.Err = err.Error()
		return
	}
	// The probe samples every task throughout, fast while a transition
	// is open: the host judges the script's transitions by the shared
	// rules, from what each snapshot says of the transition it saw.
	r.drainProbe() // forks before the case belong to no case
	r.smp = startSampler(func(s wire.Snapshot) {
		r.ev(wire.Event{Type: wire.EvSnapshot, Snapshot: &s})
	}, r.fail)
	r.smp.auto.Store(true)
	r.smp.tick = r.drainProbe
	defer func() {
		r.smp.shutdown()
		r.drainProbe()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), kselftestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/bash", "./"+script)
	cmd.Dir = wire.KselftestDir
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "TERM=dumb", "LC_ALL=C",
		// has_kdir wants the kernel's build dir, to build modules the
		// host built already; any directory does.
		"KDIR=" + wire.KselftestDir,
	}
	// A file, not a pipe: the programs a script leaves running in the
	// background (test-syscall.sh's, when it dies early) would hold a
	// pipe open, and the wait with it.
	out, err := os.CreateTemp("", "kselftest-*.out")
	if err != nil {
		res.Err = err.Error()
		return
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: wire.KselftestRoot, Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	t0 := time.Now()
	err = cmd.Run()
	res.Seconds = time.Since(t0).Seconds()
	if cmd.Process != nil {
		// Whatever the script left behind goes with it, before the next.
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	}
	b, _ := os.ReadFile(out.Name())
	res.Output = tail(string(b), kselftestOutputMax)
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.Err = fmt.Sprintf("killed after %v", kselftestTimeout)
	case errors.As(err, &ee) && ee.Exited():
		res.Exit = ee.ExitCode()
	case err != nil:
		res.Err = err.Error()
	default:
		res.Exit = 0
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}
