// Package runner owns the lifecycle of one klptest run, top to bottom:
// resolve the kernel, build the test modules, build the initramfs, boot,
// collect the trace, check it. Each step reports progress through a
// callback; the runner never prints. It reads KLPTEST_SRC (klptest's source
// tree, which the guest agent is built from).
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/initramfs"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/kmod"
	"github.com/klptest/klptest/kselftest"
	"github.com/klptest/klptest/rule"
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
	Progress func(Event)       // nil = none
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
	Case       string           `json:"case"`
	Pass       bool             `json:"pass"`
	Violations []rule.Violation `json:"violations,omitempty"`
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
	progress := o.progress()
	timed := func(step string, f func() error) error {
		t := time.Now()
		err := f()
		res.Steps[step] += time.Since(t)
		return err
	}

	cs, err := Validate(o)
	if err != nil {
		return res, err
	}
	kself := o.Suite == SuiteKselftest || o.Suite == SuiteAll
	for _, c := range cs {
		res.Cases = append(res.Cases, c.Name)
	}
	// A kernel spec that does not parse is found before QEMU is looked
	// for: bad input gets its own message whatever the host lacks.
	ref, err := kernels.ParseRef(o.Kernel)
	if err != nil {
		return res, infra("kernel", err)
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

	var k *kernels.Spec
	progress(StepKernel, "resolve "+ref.String())
	frags := o.Fragments
	if kself && ref.Kind == "src" && !slices.Contains(frags, "kselftest") {
		frags = append(append([]string{}, frags...), "kselftest") // the selftests' config
	}
	err = timed("kernel", func() error {
		r := kernels.Resolver{Cache: o.Cache, Fragments: frags,
			Progress: func(f string, a ...any) { progress(StepKernel, fmt.Sprintf(f, a...)) }}
		k, err = r.Resolve(ctx, ref, o.Arch)
		return err
	})
	if k != nil {
		res.Kernel = k
	}
	if err != nil {
		return res, infra("kernel", err)
	}
	progress(StepKernel, fmt.Sprintf("%s (%s)", k.Release, k.Version))
	for _, w := range k.Warnings {
		progress(StepKernel, "warning: "+w)
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
			g, err = kselftest.Prepare(ctx, k, o.Cache, func(s string) { progress(StepKselftest, s) })
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
	progress(StepModules, "build against "+k.BuildDir)
	err = timed("modules", func() error {
		var built bool
		kos, built, err = kmod.Build(ctx, k, o.Cache, func(s string) { progress(StepModules, s) })
		if err == nil && !built {
			progress(StepModules, "cached")
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
	progress(StepInitramfs, "build for "+goarch)
	err = timed("initramfs", func() error {
		var built bool
		initrd, built, err = initramfs.Build(ctx, initramfs.Spec{GOARCH: goarch, Modules: kos, BootModules: k.GuestModules, Src: o.Src, Extra: extra}, o.Cache, func(s string) { progress(StepInitramfs, s) })
		if err == nil && !built {
			progress(StepInitramfs, "cached")
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
