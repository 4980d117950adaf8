// Package runner owns the lifecycle of one klptest run, top to bottom:
// resolve the kernel, build the test modules, build the initramfs, boot,
// collect the trace, check it. Each step reports progress through a
// callback; the runner never prints. It reads KLPTEST_SRC (klptest's source
// tree, which the guest agent is built from).
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/check"
	"github.com/klptest/klptest/initramfs"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/kmod"
	"github.com/klptest/klptest/kselftest"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// Options configure a run.
type Options struct {
	Kernel string // spec, e.g. "debian:6.12"
	// Fragments are extra config fragments for src: kernels (e.g. "debug").
	Fragments []string
	// Accel is "tcg" or "kvm"; "" = KVM where it works, else TCG.
	Accel string
	Arch  string   // "x86_64"
	Cases []string // names; empty = all
	Cache string   // cache root; "" = kernels.CacheDir()
	Src   string   // klptest source tree; "" = found from KLPTEST_SRC, the cwd or the executable
	// Timeout bounds the VM's life; 0 = a bound derived from the cases.
	Timeout  time.Duration
	Progress func(step, detail string)
	Verbose  func(line string) // QEMU command line and the like; nil = none
	// RunDir keeps the console log; "" = a temp dir.
	RunDir string
	// StormTasks and StormSeconds size fork-storm; 0 = the agent's defaults.
	StormTasks, StormSeconds int
	// Shell boots one VM with the modules loaded and hands its console's
	// shell to Stdin and Stdout instead of running cases; ShellOnFail runs the cases
	// with the console on them and opens the shell in the VM after a case
	// that failed, once its evidence is in.
	Shell, ShellOnFail bool
	Stdin              io.Reader
	Stdout             io.Writer
	// Vmcore: when a transition stalls, the agent holds the stall after
	// its forensics while klptest dumps guest memory (an ELF core) into
	// the run dir.
	Vmcore bool
	// Bare boots the kernel once with klptest bench's bare init instead of
	// the agent: no modules, no cases, only the boot's timing.
	Bare bool
	// BenchSnapshots, if set (task counts, "100,1000"), boots the agent
	// once to measure snapshot costs instead of running cases.
	BenchSnapshots string
	// Suite is what runs: SuiteKlptest (klptest's cases, the default) or
	// SuiteKselftest (the kernel's own livepatch selftests, one case per
	// script; Cases then names scripts).
	Suite string
}

// The suites a run can run; SuiteAll is both, the selftests in a boot of
// their own, with one result.
const (
	SuiteKlptest   = "klptest"
	SuiteKselftest = "kselftest"
	SuiteAll       = "all"
)

// Suites lists the suite names, for messages.
var Suites = []string{SuiteKlptest, SuiteKselftest, SuiteAll}

// benchMemoryMB is the guest memory of a snapshot-cost boot: ten thousand
// threads, each with its kernel stack and the Go runtime's stacks, do not
// fit beside the image in the default 1 GiB.
const benchMemoryMB = 3072

// benchTimeout bounds a snapshot-cost boot: per task count, starting the
// threads and up to the agent's budget per source, on TCG.
const benchTimeout = 10 * time.Minute

// Verdict is one case's outcome.
type Verdict struct {
	Case       string            `json:"case"`
	Pass       bool              `json:"pass"`
	Violations []check.Violation `json:"violations,omitempty"`
	// Skip, on a passing verdict, says why the case could not test (a
	// kernel selftest that exited with kselftest's skip status).
	Skip string `json:"skip,omitempty"`
}

// Result is everything a run produced, also when it failed part way.
type Result struct {
	Kernel *kernels.Spec `json:"kernel,omitempty"`
	Arch   string        `json:"arch"`
	Accel  string        `json:"accel,omitempty"`
	// QEMU and Klptest label the result: QEMU's version, and klptest's
	// version and commit (the source tree the agent was built from).
	QEMU     string                   `json:"qemu,omitempty"`
	Klptest  string                   `json:"klptest,omitempty"`
	Cases    []string                 `json:"cases"`
	Verdicts []Verdict                `json:"verdicts"`
	Boots    []*Boot                  `json:"boots"`
	Steps    map[string]time.Duration `json:"steps_ns"`
	// Incomplete says why the run stopped short, when it did.
	Incomplete string `json:"incomplete,omitempty"`
}

// Boot is one VM boot and the cases it ran: cases share a boot unless one
// leaves the kernel dirty.
type Boot struct {
	Cases      []string    `json:"cases"`
	Trace      *wire.Trace `json:"trace,omitempty"`
	Exit       *vm.Exit    `json:"vm_exit,omitempty"`
	ConsoleLog string      `json:"console_log,omitempty"`
	QEMU       string      `json:"qemu_cmdline,omitempty"`
	// Vmcores are the guest memory dumps taken at stalls (--vmcore).
	Vmcores []Vmcore `json:"vmcores,omitempty"`
	// HostForensics is what the host collected before killing a VM that
	// outlived its bound or never reached the agent.
	HostForensics *HostForensics `json:"host_forensics,omitempty"`
	Incomplete    string         `json:"incomplete,omitempty"`
	Timing        Timing         `json:"timing"`
}

// Timing is when the host saw a boot's milestones, in ns since it started
// QEMU: what klptest bench splits a run's wall time with.
type Timing struct {
	// Ready: the agent's hello, or the bare init's line on the console.
	Ready int64        `json:"ready_ns,omitempty"`
	Cases []CaseTiming `json:"cases,omitempty"`
	Done  int64        `json:"done_ns,omitempty"` // the agent's done event
	Exit  int64        `json:"exit_ns,omitempty"` // QEMU gone
}

// CaseTiming is when the host got a case's start and end events.
type CaseTiming struct {
	Case  string `json:"case"`
	Start int64  `json:"start_ns"`
	End   int64  `json:"end_ns,omitempty"`
}

// Vmcore is one guest memory dump (an ELF core) and the case that stalled.
type Vmcore struct {
	Case string `json:"case"`
	Path string `json:"path"`
}

// UnmarshalJSON reads the object, and the bare path that the first
// version-1 documents with dumps held (the case unknown).
func (v *Vmcore) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*v = Vmcore{}
		return json.Unmarshal(b, &v.Path)
	}
	type plain Vmcore
	return json.Unmarshal(b, (*plain)(v))
}

// BootTimeout bounds the boot, from QEMU's start to the agent's hello:
// TCG boots Debian's kernels in about 4 s, and two VMs sharing two cores
// take a few times that.
var BootTimeout = 90 * time.Second

// Boots groups cases into boots: those that share one, in order, then one
// boot for each case that needs its own.
func Boots(cs []cases.Case) [][]cases.Case {
	var shared, kself []cases.Case
	var own [][]cases.Case
	for _, c := range cs {
		if c.Kselftest != "" {
			// The kernel's selftests share a boot without klptest's
			// modules, after klptest's cases.
			kself = append(kself, c)
			continue
		}
		if c.OwnBoot || c.CPUs != 0 {
			own = append(own, []cases.Case{c})
		} else {
			shared = append(shared, c)
		}
	}
	var out [][]cases.Case
	if len(shared) > 0 {
		out = append(out, shared)
	}
	out = append(out, own...)
	if len(kself) > 0 {
		out = append(out, kself)
	}
	return out
}

// Failed reports whether any case failed.
func (r *Result) Failed() bool {
	for _, v := range r.Verdicts {
		if !v.Pass {
			return true
		}
	}
	return false
}

// InfraError is a failure to test at all: fetch, build or boot. The CLI
// exits 125 on it, so that `git bisect run` skips the commit.
type InfraError struct {
	Step string
	Err  error
}

func (e *InfraError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *InfraError) Unwrap() error { return e.Err }

func infra(step string, err error) error { return &InfraError{Step: step, Err: err} }

// Version names this klptest: the module version and VCS revision Go
// stamped into the binary, else the commit of the source tree src (go run
// stamps none), with "-dirty" for local changes.
func Version(src string) string {
	v, rev, dirty := "devel", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev == "" && src != "" {
		if out, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output(); err == nil {
			rev = strings.TrimSpace(string(out))
			st, _ := exec.Command("git", "-C", src, "status", "--porcelain", "--untracked-files=no").Output()
			dirty = len(st) > 0
		}
	}
	if rev == "" {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return v + " " + rev
}

// modulePath is klptest's Go module.
const modulePath = "github.com/klptest/klptest"

// FindSrc locates klptest's source tree: KLPTEST_SRC, else a checkout
// around the working directory or the executable, else the module cache's
// copy of the installed version.
func FindSrc() (string, error) {
	if d := os.Getenv("KLPTEST_SRC"); d != "" {
		return d, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, d := range starts {
		for ; ; d = filepath.Dir(d) {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/klptest/klptest\n") {
				return d, nil
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	// An installed klptest (go install .../cmd/klptest@VERSION): the
	// install put the module's source, with its go.sum, in the module cache.
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == modulePath && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		if esc, err := module.EscapePath(bi.Main.Path); err == nil {
			if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
				d := filepath.Join(strings.TrimSpace(string(out)), esc+"@"+bi.Main.Version)
				if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
					return d, nil
				}
			}
		}
	}
	return "", errors.New("klptest builds its guest agent from its source tree: run it inside a klptest checkout, set KLPTEST_SRC, or install it with go install " + modulePath + "/cmd/klptest@latest (Go must be on PATH)")
}

// Run does one run. The error is an *InfraError when klptest could not
// test; case failures are in the Result's verdicts. The Result is never nil
// and keeps whatever was gathered before a failure.
func Run(ctx context.Context, o Options) (*Result, error) {
	res := &Result{Arch: o.Arch, Steps: map[string]time.Duration{}}
	defer func() {
		// Interrupted in any step (a download, a build), the result
		// says so, not only during a boot.
		if ctx.Err() != nil && res.Incomplete == "" {
			res.Incomplete = "interrupted"
		}
	}()
	progress := func(step, detail string) {
		if o.Progress != nil {
			o.Progress(step, detail)
		}
	}
	timed := func(step string, f func() error) error {
		t := time.Now()
		err := f()
		res.Steps[step] += time.Since(t)
		return err
	}

	if o.Suite != "" && !slices.Contains(Suites, o.Suite) {
		return res, fmt.Errorf("unknown suite %q (known: %s)", o.Suite, strings.Join(Suites, ", "))
	}
	kself := o.Suite == SuiteKselftest || o.Suite == SuiteAll
	if o.Suite == SuiteAll && len(o.Cases) > 0 {
		return res, fmt.Errorf("--suite %s runs every case of both suites: name cases with --suite %s or %s", SuiteAll, SuiteKlptest, SuiteKselftest)
	}
	var cs []cases.Case
	var err error
	if o.Suite != SuiteKselftest { // the selftests are known once the kernel's source is
		for _, n := range o.Cases {
			if _, ok := cases.KselftestScript(n); ok {
				return res, fmt.Errorf("case %q is one of the kernel's selftests: run it with --suite %s", n, SuiteKselftest)
			}
		}
		cs, err = cases.Lookup(o.Cases)
		if len(o.Cases) == 0 {
			cs = cases.All()
		}
		if err != nil {
			return res, err
		}
		for _, c := range cs {
			res.Cases = append(res.Cases, c.Name)
		}
	}
	// Before any download or build: a missing QEMU is found in a second.
	if _, err := vm.FindQEMU(o.Arch); err != nil {
		return res, infra("qemu", err)
	}
	if o.Src == "" {
		if o.Src, err = FindSrc(); err != nil {
			return res, infra("find source", err)
		}
	}
	res.Klptest = Version(o.Src)
	if o.Cache == "" {
		if o.Cache, err = kernels.CacheDir(); err != nil {
			return res, infra("cache", err)
		}
	}
	if err := kernels.CheckCache(o.Cache); err != nil {
		return res, infra("cache", err)
	}
	release, err := cachefs.Use(o.Cache)
	if err != nil {
		return res, infra("cache", err)
	}
	defer release()

	ref, err := kernels.ParseRef(o.Kernel)
	if err != nil {
		return res, infra("kernel", err)
	}
	var k *kernels.Spec
	progress("kernel", "resolve "+ref.String())
	frags := o.Fragments
	if kself && ref.Kind == "src" && !slices.Contains(frags, "kselftest") {
		frags = append(append([]string{}, frags...), "kselftest") // the selftests' config
	}
	err = timed("kernel", func() error {
		r := kernels.Resolver{Cache: o.Cache, Fragments: frags,
			Progress: func(f string, a ...any) { progress("kernel", fmt.Sprintf(f, a...)) }}
		k, err = r.Resolve(ctx, ref, o.Arch)
		return err
	})
	if k != nil {
		res.Kernel = k
	}
	if err != nil {
		return res, infra("kernel", err)
	}
	progress("kernel", fmt.Sprintf("%s (%s)", k.Release, k.Version))
	for _, w := range k.Warnings {
		progress("kernel", "warning: "+w)
	}
	// A wrong-arch or cut-off image fails here, not as a boot timeout.
	if err := kernels.CheckImageArch(k.Image, o.Arch); err != nil {
		return res, infra("kernel", err)
	}

	if o.Bare {
		return res, bareBoot(ctx, o, k, res, progress)
	}

	var extra map[string]string
	if kself {
		var g *kselftest.Guest
		err = timed("kselftest", func() error {
			g, err = kselftest.Prepare(ctx, k, o.Cache, func(s string) { progress("kselftest", s) })
			return err
		})
		if err != nil {
			return res, infra("kselftest", err)
		}
		scripts, err := g.Suite.Select(o.Cases)
		if err != nil {
			return res, infra("kselftest", err)
		}
		for _, sc := range scripts {
			c := cases.Kselftest(sc)
			cs = append(cs, c)
			res.Cases = append(res.Cases, c.Name)
		}
		extra = g.Files
	}

	var kos []string
	progress("modules", "build against "+k.BuildDir)
	err = timed("modules", func() error {
		var built bool
		kos, built, err = kmod.Build(ctx, k, o.Cache, func(s string) { progress("modules", s) })
		if err == nil && !built {
			progress("modules", "cached")
		}
		return err
	})
	if err != nil {
		return res, infra("modules", err)
	}

	arch, err := kernels.LookupArch(o.Arch)
	if err != nil {
		return res, infra("arch", err)
	}
	goarch := arch.GOARCH
	var initrd string
	progress("initramfs", "build for "+goarch)
	err = timed("initramfs", func() error {
		var built bool
		initrd, built, err = initramfs.Build(ctx, initramfs.Spec{GOARCH: goarch, Modules: kos, BootModules: k.GuestModules, Src: o.Src, Extra: extra}, o.Cache, func(s string) { progress("initramfs", s) })
		if err == nil && !built {
			progress("initramfs", "cached")
		}
		return err
	})
	if err != nil {
		return res, infra("initramfs", err)
	}

	runDir := o.RunDir
	if runDir == "" {
		if runDir, err = os.MkdirTemp("", "klptest-run-"); err != nil {
			return res, infra("run dir", err)
		}
	} else if err := os.MkdirAll(runDir, 0o700); err != nil {
		// Private, like the temp dir: consoles and memory dumps hold the
		// guest's memory.
		return res, infra("run dir", fmt.Errorf("--out %s: %w", runDir, err))
	}
	accel := o.Accel
	if accel == "" {
		accel = vm.DetectAccel("", o.Arch)
	}
	res.Accel = accel
	res.QEMU, _ = vm.QEMUVersion("", o.Arch)
	if o.Shell || o.BenchSnapshots != "" {
		b, err := boot(ctx, o, k, initrd, accel, filepath.Join(runDir, "console-shell.log"), nil, res, nil, progress)
		if b != nil {
			res.Boots = append(res.Boots, b)
		}
		return res, err
	}
	dec := newDecoder(k, filepath.Dir(kos[0]))
	for i, group := range Boots(cs) {
		b, err := boot(ctx, o, k, initrd, accel, filepath.Join(runDir, fmt.Sprintf("console-%d.log", i)), group, res, dec, progress)
		if b != nil {
			res.Boots = append(res.Boots, b)
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// boot runs one group of cases in one VM and adds their verdicts to res.
func boot(ctx context.Context, o Options, k *kernels.Spec, initrd, accel, consoleLog string, cs []cases.Case, res *Result, dec *decoder, progress func(string, string)) (*Boot, error) {
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
	progress("boot", fmt.Sprintf("%s on %s (%s): %s", k.Release, o.Arch, accel, strings.Join(names, ", ")))
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
			progress("boot", "agent ready")
		case wire.EvCaseStart:
			running.Store(ev.Case)
			b.Timing.Cases = append(b.Timing.Cases, CaseTiming{Case: ev.Case, Start: since()})
			// Earlier boots' cases have their verdicts already.
			progress("case", fmt.Sprintf("%s (%d/%d)", ev.Case, len(res.Verdicts)+len(tr.Cases), len(res.Cases)))
		case wire.EvAsk:
			answerShellOnFail(m, tr, cs, ev.Case, progress)
		case wire.EvForensics:
			progress("forensics", fmt.Sprintf("%s: %s", ev.Case, ev.Forensics.Reason))
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
	progress("check", strings.Join(names, ", "))
	t1 := time.Now()
	vs := verdicts(tr, cs, exit, streamErr, b.Incomplete)
	decodeViolations(ctx, dec, vs)
	res.Verdicts = append(res.Verdicts, vs...)
	res.Steps["check"] += time.Since(t1)
	return b, nil
}

// answerShellOnFail judges the case that just ended and tells the agent
// whether to open the shell: only after a failure. (A failed step opened
// one already, before the cleanup; the agent then declines.)
func answerShellOnFail(m *vm.Machine, tr *wire.Trace, cs []cases.Case, name string, progress func(string, string)) {
	reply := wire.ReplyGo
	for _, c := range cs {
		if c.Name != name || len(tr.Cases) == 0 {
			continue
		}
		if vs := check.Violations(check.Case(tr, tr.Cases[len(tr.Cases)-1], c)); len(vs) > 0 {
			reply = wire.ReplyShell
			progress("shell", fmt.Sprintf("%s failed (%d violations): the shell is on the console; exit it to go on", name, len(vs)))
		}
	}
	if err := m.Reply(reply); err != nil {
		progress("shell", err.Error())
	}
}

// vmcoreTimeout bounds one guest memory dump (1 GiB took 2.7 s here).
const vmcoreTimeout = 3 * time.Minute

// dumpVmcore dumps guest memory next to the console log while the agent
// holds a stall, then lets the agent go on. It returns the dump's path, or
// "" when it failed (the agent goes on either way).
func dumpVmcore(m *vm.Machine, consoleLog, caseName string, n int, progress func(string, string)) string {
	path := filepath.Join(filepath.Dir(consoleLog), fmt.Sprintf("vmcore-%s-%d.elf", caseName, n))
	t0 := time.Now()
	err := m.DumpGuestMemory(path, vmcoreTimeout)
	if err != nil {
		progress("forensics", "guest memory dump failed: "+err.Error())
		path = ""
	} else {
		progress("forensics", fmt.Sprintf("guest memory dumped to %s in %.1fs", path, time.Since(t0).Seconds()))
	}
	if err := m.Reply(wire.ReplyResume); err != nil {
		progress("forensics", err.Error())
	}
	return path
}

func consoleTail(e *vm.Exit) string {
	if e == nil {
		return ""
	}
	return "console tail:\n" + e.Console
}

// verdicts checks every requested case. A case the VM ended before or
// during fails, with the reason the VM ended.
func verdicts(tr *wire.Trace, cs []cases.Case, exit *vm.Exit, streamErr error, incomplete string) []Verdict {
	byName := map[string]*wire.CaseTrace{}
	for _, ct := range tr.Cases {
		byName[ct.Name] = ct
	}
	var out []Verdict
	for _, c := range cs {
		v := Verdict{Case: c.Name}
		ct := byName[c.Name]
		if ct == nil {
			v.Violations = append(v.Violations, check.Violation{Case: c.Name, Rule: check.RuleTrace, Msg: "the case never started: " + vmEnd(exit, streamErr, incomplete)})
		} else {
			v.Violations = check.Violations(check.Case(tr, ct, c))
			if ct.End == nil {
				// One violation, with the reason, for the check's bare one.
				for i, x := range v.Violations {
					if x.Rule == check.RuleTrace && x.Msg == check.MsgNoCaseEnd {
						v.Violations = append(v.Violations[:i], v.Violations[i+1:]...)
						break
					}
				}
				what := "the VM ended during the case: "
				if streamErr != nil && exit != nil && exit.Reason == vm.ReasonShutdown {
					what = "the result stream broke during the case (the guest ran on, and powered off): "
				}
				v.Violations = append(v.Violations, check.Violation{Case: c.Name, Rule: check.RuleTrace, Msg: what + vmEnd(exit, streamErr, incomplete)})
			}
		}
		for _, e := range tr.Errors {
			v.Violations = append(v.Violations, check.Violation{Case: c.Name, Rule: check.RuleAgent, Msg: e})
		}
		v.Pass = len(v.Violations) == 0
		if v.Pass && ct != nil {
			v.Skip = ct.Skipped()
		}
		out = append(out, v)
	}
	return out
}

func vmEnd(exit *vm.Exit, streamErr error, incomplete string) string {
	var parts []string
	if incomplete != "" {
		parts = append(parts, incomplete)
	}
	if streamErr != nil {
		parts = append(parts, streamErr.Error())
	}
	if exit != nil {
		parts = append(parts, "QEMU "+exit.String())
		if exit.Reason == vm.ReasonGuestReset || exit.Reason == vm.ReasonGuestPanicked {
			parts = append(parts, "kernel panic:\n"+panicExcerpt(exit.Console))
		}
	}
	return strings.Join(parts, "; ")
}

// panicExcerpt returns the console from the panic's first line on.
func panicExcerpt(console string) string {
	lines := strings.Split(console, "\n")
	for i, l := range lines {
		if strings.Contains(l, "Kernel panic") || strings.Contains(l, "BUG:") || strings.Contains(l, "Oops") {
			start, end := i, i+40
			if end > len(lines) {
				end = len(lines)
			}
			return strings.Join(lines[start:end], "\n")
		}
	}
	return console
}

// agentStartError reports an agent that came up but could not start a
// case (the test modules refused by the kernel): klptest could not test,
// which says nothing about livepatch.
func agentStartError(tr *wire.Trace) error {
	if len(tr.Cases) > 0 || len(tr.Errors) == 0 {
		return nil
	}
	msg := strings.Join(tr.Errors, "; ")
	hint := ""
	switch {
	case strings.Contains(msg, "exec format error"), strings.Contains(msg, "invalid module format"):
		hint = ": the kernel refused the test modules' format; were they built against headers of another build than the booted image (see the kernel log for the vermagic)?"
	case strings.Contains(msg, "unknown symbol"), strings.Contains(msg, "no such file or directory"):
		hint = ": the test modules need symbols or files this kernel lacks"
	}
	return fmt.Errorf("the guest agent could not start the cases: %s%s", msg, hint)
}
