package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// BootTimeout bounds the boot, from QEMU's start to the agent's hello:
// TCG boots Debian's kernels in about 4 s, and two VMs sharing two cores
// take a few times that.
var BootTimeout = 90 * time.Second

// boot runs one group of cases in one VM and adds their verdicts to res.
func boot(ctx context.Context, o Options, k *kernels.Spec, initrd, accel, consoleLog string, cs []cases.Case, res *Result, dec *decoder, progress progressFunc) (*Boot, error) {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	b := &Boot{Cases: names, ConsoleLog: consoleLog}
	cfg := vm.Config{
		Arch:   o.Arch,
		Kernel: k.Image,
		Initrd: initrd,
		// log_buf_len: a sysrq-t dump of every task (stall forensics) is
		// written in one go and overruns the default 128 KiB ring before
		// the agent can read it.
		Cmdline:    []string{"quiet", "log_buf_len=8M"},
		ConsoleLog: consoleLog,
		Accel:      accel,
	}
	for _, c := range cs {
		if c.CPUs != 0 {
			cfg.CPUs = c.CPUs
		}
	}
	bp := wire.BootParams{Cases: names, StormTasks: o.StormTasks, StormSeconds: o.StormSeconds,
		Vmcore: o.Vmcore, BenchSnapshots: o.BenchSnapshots, Shell: o.Shell, ShellOnFail: o.ShellOnFail && !o.Shell}
	if len(cs) > 0 && cs[0].Kselftest != "" { // Boots keeps them apart
		bp.Suite = wire.SuiteKselftest
	}
	if o.BenchSnapshots != "" {
		cfg.MemoryMB = benchMemoryMB
	}
	if o.Shell || o.ShellOnFail {
		if o.Stdin == nil || o.Stdout == nil {
			return b, infra("shell", errors.New("no terminal to connect the console to"))
		}
		cfg.Interactive, cfg.Stdin, cfg.Stdout = true, o.Stdin, o.Stdout
	}
	cfg.Cmdline = append(cfg.Cmdline, bp.Args()...)
	timeout := o.Timeout
	if timeout == 0 && o.BenchSnapshots != "" {
		timeout = benchTimeout
	}
	if timeout == 0 {
		timeout = 2 * time.Minute
		for _, c := range cs {
			timeout += 2*time.Duration(c.BoundSeconds)*time.Second + 30*time.Second
			if o.Vmcore {
				timeout += vmcoreTimeout // a stall's memory dump
			}
			if c.Storms() {
				// --storm-seconds may ask for a storm longer than the
				// case's bound: the storm runs before the bound starts.
				timeout += time.Duration(o.StormSeconds) * time.Second
			}
		}
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress(StepBoot, fmt.Sprintf("%s on %s (%s): %s", k.Release, o.Arch, accel, strings.Join(names, ", ")))
	t0 := time.Now()
	m, err := vm.Start(vctx, cfg)
	if err != nil {
		return b, infra("boot", err)
	}
	defer m.Stop(2 * time.Second)
	b.QEMU = m.CommandLine()
	if o.Verbose != nil {
		o.Verbose("qemu: " + b.QEMU)
	}

	// At a timeout the host takes what evidence QEMU's monitor gives
	// before it kills the VM: the agent may be what hangs. The timers'
	// goroutine hands it over through hostF.
	var helloSeen, bootTimedOut, timedOut atomic.Bool
	var kernelText, running atomic.Value
	kernelText.Store("")
	running.Store("")
	hostF := make(chan *HostForensics, 1)
	var once sync.Once
	expire := func(flag *atomic.Bool, reason string) {
		once.Do(func() {
			flag.Store(true)
			hostF <- collectHostForensics(m, reason, running.Load().(string), consoleLog, k, kernelText.Load().(string), o.Vmcore, progress)
			cancel()
		})
	}
	// A kernel that does not boot (a bad image, a hang before init) would
	// otherwise hold the VM for its whole bound.
	bootTimer := time.AfterFunc(BootTimeout, func() {
		if !helloSeen.Load() {
			expire(&bootTimedOut, fmt.Sprintf("the guest agent did not start within %v", BootTimeout))
		}
	})
	defer bootTimer.Stop()
	vmTimer := time.AfterFunc(timeout, func() { expire(&timedOut, fmt.Sprintf("the VM did not finish within %v", timeout)) })
	if o.Shell || o.ShellOnFail { // a person at the shell sets the pace
		vmTimer.Stop()
	}
	defer vmTimer.Stop()

	tr := &wire.Trace{}
	b.Trace = tr
	since := func() int64 { return int64(time.Since(t0)) }
	streamErr := wire.Read(m.Results(), tr, func(ev wire.Event) {
		switch ev.Type {
		case wire.EvCaseEnd:
			running.Store("")
			if n := len(b.Timing.Cases); n > 0 {
				b.Timing.Cases[n-1].End = since()
			}
		case wire.EvDone:
			b.Timing.Done = since()
		case wire.EvHello:
			if ev.Hello != nil {
				kernelText.Store(ev.Hello.KernelText)
			}
			helloSeen.Store(true)
			b.Timing.Ready = since()
			res.Steps["boot"] += time.Since(t0)
			progress(StepBoot, "agent ready")
		case wire.EvCaseStart:
			running.Store(ev.Case)
			b.Timing.Cases = append(b.Timing.Cases, CaseTiming{Case: ev.Case, Start: since()})
			// Earlier boots' cases have their verdicts already.
			progress(StepCase, fmt.Sprintf("%s (%d/%d)", ev.Case, len(res.Verdicts)+len(tr.Cases), len(res.Cases)))
		case wire.EvAsk:
			answerShellOnFail(m, tr, cs, ev.Case, progress)
		case wire.EvForensics:
			progress(StepForensics, fmt.Sprintf("%s: %s", ev.Case, ev.Forensics.Reason))
			if ev.Forensics.Paused {
				if path := dumpVmcore(m, consoleLog, ev.Case, len(b.Vmcores), progress); path != "" {
					b.Vmcores = append(b.Vmcores, Vmcore{Case: ev.Case, Path: path})
				}
			}
		}
	})
	exit, werr := m.Wait()
	b.Exit = exit
	b.Timing.Exit = since()
	res.Steps["vm"] += time.Since(t0)
	// No collection after the VM is gone: stop the timers, wait for one
	// under way, and bar later ones. Only then are the flags final.
	bootTimer.Stop()
	vmTimer.Stop()
	once.Do(func() {})
	select {
	case b.HostForensics = <-hostF:
	default:
	}
	if bootTimedOut.Load() && ctx.Err() == nil {
		b.Incomplete = fmt.Sprintf("the guest agent did not start within %v", BootTimeout)
		return b, infra("boot", fmt.Errorf("the kernel did not boot to the guest agent within %v; %s; %s", BootTimeout, b.HostForensics.Summary(), consoleTail(exit)))
	}
	if werr != nil && exit == nil {
		return b, infra("vm", werr)
	}
	if timedOut.Load() && ctx.Err() == nil {
		b.Incomplete = fmt.Sprintf("the VM did not finish within %v; %s", timeout, b.HostForensics.Summary())
	}
	// The cases that ended before a stop that says nothing about the
	// kernel keep their verdicts.
	judgeEnded := func() []cases.Case {
		var ended []cases.Case
		for _, c := range cs {
			for _, ct := range tr.Cases {
				if ct.Name == c.Name && ct.End != nil {
					ended = append(ended, c)
				}
			}
		}
		res.Verdicts = append(res.Verdicts, verdicts(tr, ended, exit, streamErr, b.Incomplete)...)
		return ended
	}
	if ctx.Err() != nil {
		b.Incomplete = "interrupted"
		res.Incomplete = b.Incomplete
		judgeEnded()
		return b, ctx.Err()
	}
	if exit != nil && exit.Outside() {
		// Not the kernel's doing: the run is incomplete, and bisect
		// skips it.
		b.Incomplete = "QEMU " + exit.String() + ", not by klptest or its guest"
		res.Incomplete = b.Incomplete
		ended := judgeEnded()
		last := "none"
		if tr.Last != "" {
			last = fmt.Sprintf("%q", tr.Last)
		}
		return b, infra("vm", fmt.Errorf("QEMU ended from outside during %s: %s (last event from the guest: %s; %d of %d cases had finished)\n%s",
			strings.Join(names, ", "), exit, last, len(ended), len(cs), consoleTail(exit)))
	}
	if tr.Hello == nil {
		// Nothing ran: the kernel or the agent never came up.
		why := "the kernel did not boot to the guest agent: it never reported"
		if streamErr != nil {
			why += ": " + streamErr.Error()
		}
		return b, infra("boot", fmt.Errorf("%s; QEMU: %v\n%s", why, exit, consoleTail(exit)))
	}
	if err := agentStartError(tr); err != nil && len(cs) > 0 {
		return b, infra("guest", err)
	}
	progress(StepCheck, strings.Join(names, ", "))
	t1 := time.Now()
	vs := verdicts(tr, cs, exit, streamErr, b.Incomplete)
	decodeViolations(ctx, dec, vs)
	res.Verdicts = append(res.Verdicts, vs...)
	res.Steps["check"] += time.Since(t1)
	return b, nil
}

// vmcoreTimeout bounds one guest memory dump (1 GiB took 2.7 s here).
const vmcoreTimeout = 3 * time.Minute

// dumpVmcore dumps guest memory next to the console log while the agent
// holds a stall, then lets the agent go on. It returns the dump's path, or
// "" when it failed (the agent goes on either way).
func dumpVmcore(m *vm.Machine, consoleLog, caseName string, n int, progress progressFunc) string {
	path := filepath.Join(filepath.Dir(consoleLog), fmt.Sprintf("vmcore-%s-%d.elf", caseName, n))
	t0 := time.Now()
	err := m.DumpGuestMemory(path, vmcoreTimeout)
	if err != nil {
		progress(StepForensics, "guest memory dump failed: "+err.Error())
		path = ""
	} else {
		progress(StepForensics, fmt.Sprintf("guest memory dumped to %s in %.1fs", path, time.Since(t0).Seconds()))
	}
	if err := m.Reply(wire.ReplyResume); err != nil {
		progress(StepForensics, err.Error())
	}
	return path
}

func consoleTail(e *vm.Exit) string {
	if e == nil {
		return ""
	}
	return "console tail:\n" + e.Console
}
