package runner

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// BootTimeout bounds the boot, from QEMU's start to the agent's hello:
// TCG boots Debian's kernels in about 4 s, and two VMs sharing two cores
// take a few times that.
var BootTimeout = 90 * time.Second

// benchMemoryMB is the guest memory of a snapshot-cost boot: ten thousand
// threads, each with its kernel stack and the Go runtime's stacks, do not
// fit beside the image in the default 1 GiB.
const benchMemoryMB = 3072

// benchTimeout bounds a snapshot-cost boot: per task count, starting the
// threads and up to the agent's budget per source, on TCG.
const benchTimeout = 10 * time.Minute

// vmcoreTimeout bounds one guest memory dump (1 GiB took 2.7 s here).
const vmcoreTimeout = 3 * time.Minute

// machine is what a boot needs of a running QEMU: *vm.Machine, or a fake
// that a unit test drives over a net.Pipe.
type machine interface {
	monitor
	Results() io.Reader // the result port: the guest's event lines
	Reply(line string) error
	Wait() (*vm.Exit, error)
	Stop(grace time.Duration) error
	CommandLine() string
}

// monitor is what the host's forensics take from QEMU's monitor.
type monitor interface {
	SendSysrq(keys ...string) error
	HMP(command string) (string, error)
	DumpGuestMemory(path string, timeout time.Duration) error
}

// startVM starts QEMU; runs replace it in tests.
func startVM(ctx context.Context, cfg vm.Config) (machine, error) { return vm.Start(ctx, cfg) }

// bootMode is what a boot does instead of klptest's cases, if anything.
type bootMode struct {
	shell          *Terminal // hand the console's shell to a person
	benchSnapshots string    // measure snapshot costs at these task counts
}

// bootConfig is the VM one boot runs: the machine, the kernel and what the
// agent is asked to do. It is pure.
func bootConfig(o Options, img *image, cs []cases.Case, mode bootMode, consoleLog string) vm.Config {
	cfg := vm.Config{
		Arch:   o.Arch,
		Kernel: img.kernel.Image,
		Initrd: img.initrd,
		// log_buf_len: a sysrq-t dump of every task (stall forensics) is
		// written in one go and overruns the default 128 KiB ring before
		// the agent can read it.
		Cmdline:    []string{"quiet", "log_buf_len=8M"},
		ConsoleLog: consoleLog,
		Accel:      img.accel,
	}
	for _, c := range cs {
		if c.CPUs != 0 {
			cfg.CPUs = c.CPUs
		}
		if c.Known != "" && c.OwnBoot {
			// The finding is an oops in a task: the kernel would kill
			// the task and go on, stalled; a panic ends the VM at
			// once, with the oops on its console (check.WithConsole).
			cfg.Cmdline = append(cfg.Cmdline, "oops=panic")
		}
	}
	bp := wire.BootParams{Cases: caseNames(cs), StormTasks: o.StormTasks, StormSeconds: o.StormSeconds,
		Vmcore: o.Vmcore, BenchSnapshots: mode.benchSnapshots}
	if len(cs) > 0 && cs[0].Kselftest != "" { // Boots keeps them apart
		bp.Suite = wire.SuiteKselftest
	}
	if mode.benchSnapshots != "" {
		cfg.MemoryMB = benchMemoryMB
	}
	term := mode.shell
	if term != nil {
		bp.Shell = true
	} else if o.ShellOnFail != nil && mode.benchSnapshots == "" {
		term, bp.ShellOnFail = o.ShellOnFail, true
	}
	if term != nil {
		cfg.Interactive, cfg.Stdin, cfg.Stdout = true, term.In, term.Out
	}
	cfg.Cmdline = append(cfg.Cmdline, bp.Args()...)
	return cfg
}

// bootTimeout bounds one boot's VM: --timeout, else what its cases may
// take (twice each one's bound, its repeat steps' bounds, its storm and a
// memory dump). 0 means no
// bound: a person at the shell sets the pace. It is pure.
func bootTimeout(o Options, cs []cases.Case, mode bootMode) time.Duration {
	switch {
	case mode.shell != nil || (o.ShellOnFail != nil && mode.benchSnapshots == ""):
		return 0
	case o.Timeout != 0:
		return o.Timeout
	case mode.benchSnapshots != "":
		return benchTimeout
	}
	timeout := 2 * time.Minute
	for _, c := range cs {
		timeout += 2*time.Duration(c.BoundSeconds)*time.Second + 30*time.Second + c.RepeatBound()
		if o.Vmcore {
			timeout += vmcoreTimeout // a stall's memory dump
		}
		if c.Storms() {
			// --storm-seconds may ask for a storm longer than the
			// case's bound: the storm runs before the bound starts.
			timeout += time.Duration(o.StormSeconds) * time.Second
		}
	}
	return timeout
}

func caseNames(cs []cases.Case) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

// boot runs one group of cases (or a mode's boot) in one VM and adds their
// verdicts to the result: configure, start, hold the session, classify how
// it ended, judge.
func (r *run) boot(ctx context.Context, img *image, cs []cases.Case, console string, mode bootMode, dec *decoder) (*Boot, error) {
	return r.bootWith(ctx, img, cs, console, mode, dec, nil)
}

// bootWith is boot with the host's evidence collector given (nil: QEMU's
// monitor's, collectHostForensics); tests give their own.
func (r *run) bootWith(ctx context.Context, img *image, cs []cases.Case, console string, mode bootMode, dec *decoder,
	collect func(reason, running, kernelText string) *HostForensics) (*Boot, error) {
	names := caseNames(cs)
	consoleLog := filepath.Join(img.runDir, console)
	b := &Boot{Cases: names, ConsoleLog: consoleLog}
	cfg := bootConfig(r.o, img, cs, mode, consoleLog)
	timeout := bootTimeout(r.o, cs, mode)
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.progress(StepBoot, fmt.Sprintf("%s on %s (%s): %s", img.kernel.Release, r.o.Arch, img.accel, strings.Join(names, ", ")))
	start := r.start
	if start == nil {
		start = startVM
	}
	m, err := start(vctx, cfg)
	if err != nil {
		return b, infra("boot", err)
	}
	defer m.Stop(2 * time.Second)
	b.QEMU = m.CommandLine()
	if r.o.Verbose != nil {
		r.o.Verbose("qemu: " + b.QEMU)
	}
	if collect == nil {
		collect = func(reason, running, kernelText string) *HostForensics {
			return collectHostForensics(m, reason, running, consoleLog, img.kernel, kernelText, r.o.Vmcore, r.progress)
		}
	}
	s := &session{r: r, m: m, b: b, cs: cs, cancel: cancel, collect: collect}
	end := s.run(BootTimeout, timeout)
	end.Interrupted = ctx.Err() != nil
	out := classify(end, b.Trace, names)
	b.Incomplete = out.incomplete
	if out.runIncomplete {
		r.res.Incomplete = out.incomplete
	}
	switch out.class {
	case classInfra:
		return b, out.err
	case classInterrupted, classOutside:
		// The cases that ended before a stop that says nothing about the
		// kernel keep their verdicts.
		r.res.Verdicts = append(r.res.Verdicts, verdicts(b.Trace, endedCases(b.Trace, cs), end.Exit, end.StreamErr, b.Incomplete)...)
		if out.class == classInterrupted {
			return b, ctx.Err()
		}
		return b, out.err
	}
	if err := agentStartError(b.Trace); err != nil && len(cs) > 0 {
		return b, infra("guest", err)
	}
	r.progress(StepCheck, strings.Join(names, ", "))
	t1 := time.Now()
	vs := verdicts(b.Trace, cs, end.Exit, end.StreamErr, b.Incomplete)
	decodeViolations(ctx, dec, vs)
	r.res.Verdicts = append(r.res.Verdicts, vs...)
	r.res.Phases[string(StepCheck)] += time.Since(t1)
	return b, nil
}

// endedCases are the cases of cs whose case-end the trace holds.
func endedCases(tr *wire.Trace, cs []cases.Case) []cases.Case {
	var ended []cases.Case
	for _, c := range cs {
		for _, ct := range tr.Cases {
			if ct.Name == c.Name && ct.End != nil {
				ended = append(ended, c)
			}
		}
	}
	return ended
}

// dumpVmcore dumps guest memory next to the console log while the agent
// holds a stall, then lets the agent go on. It returns the dump's path, or
// "" when it failed (the agent goes on either way).
func dumpVmcore(m machine, consoleLog, caseName string, n int, progress progressFunc) string {
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
