// Package runner owns the lifecycle of a klptest run, top to bottom, in
// named steps: Validate what is asked; prepare the image (the kernel, the
// selftests' files, klptest's modules, the initramfs: prepare.go); for each
// group of cases that shares a VM, configure the boot (bootConfig,
// bootTimeout: pure), hold the boot session over a small machine interface
// (session.go: the guest's events, the host's replies, the bounds'
// expiry), classify how the boot ended (pure: judged, interrupted, ended
// from outside, could not test), and judge the cases (verdict.go). Run runs
// the cases; Shell, Bare and BenchSnapshots are the other boots. Each step
// reports typed progress Events; the runner never prints. It reads
// KLPTEST_SRC (klptest's source tree, which the guest agent is built from).
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// Options configure a run: the kernel, the machine, what runs, and how it
// reports. The shell, the bare boot and the snapshot bench take the same
// options through their own entry points (Shell, Bare, BenchSnapshots).
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
	// ShellOnFail runs the cases with the console on this terminal and
	// opens the shell in the VM after a case that failed, once its
	// evidence is in; nil = no shell.
	ShellOnFail *Terminal
	// Vmcore: when a transition stalls, the agent holds the stall after
	// its forensics while klptest dumps guest memory (an ELF core) into
	// the run dir.
	Vmcore bool
	// Suite is what runs: SuiteKlptest (klptest's cases, the default) or
	// SuiteKselftest (the kernel's own livepatch selftests, one case per
	// script; Cases then names scripts).
	Suite string
}

// Terminal is where a guest's console goes when a person uses its shell.
type Terminal struct {
	In  io.Reader
	Out io.Writer
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

// Verdict is one case's outcome.
type Verdict struct {
	Case       string           `json:"case"`
	Pass       bool             `json:"pass"`
	Violations []rule.Violation `json:"violations,omitempty"`
	// Skip, on a passing verdict, says why the case could not test (a
	// kernel selftest that exited with kselftest's skip status).
	Skip string `json:"skip,omitempty"`
	// Counts are the case's own figures (cases.Case.Counts), reported
	// pass or fail: the fork cases' forks by race kind.
	Counts map[string]int `json:"counts,omitempty"`
}

// Result is everything a run produced, also when it failed part way.
type Result struct {
	Kernel *kernels.Spec `json:"kernel,omitempty"`
	Arch   string        `json:"arch"`
	Accel  string        `json:"accel,omitempty"`
	// QEMU and Klptest label the result: QEMU's version, and klptest's
	// version and commit (the source tree the agent was built from).
	QEMU     string    `json:"qemu,omitempty"`
	Klptest  string    `json:"klptest,omitempty"`
	Cases    []string  `json:"cases"`
	Verdicts []Verdict `json:"verdicts"`
	Boots    []*Boot   `json:"boots"`
	// Phases is the time spent in each phase: the steps that prepare
	// (StepKernel, StepKselftest, StepModules, StepInitramfs), StepBoot
	// (QEMU's start to the agent's hello), PhaseVM (QEMU's whole life)
	// and StepCheck. The JSON name is the first documents'.
	Phases map[string]time.Duration `json:"steps_ns"`
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

// PhaseVM is the phase that times QEMU's whole life, in Result.Phases.
const PhaseVM = "vm"

// Run runs the cases. The error is an *InfraError when klptest could not
// test; case failures are in the Result's verdicts. The Result is never nil
// and keeps whatever was gathered before a failure.
func Run(ctx context.Context, o Options) (*Result, error) {
	r := newRun(o)
	defer r.interrupted(ctx)
	cs, err := Validate(o)
	if err != nil {
		return r.res, err
	}
	for _, c := range cs {
		r.res.Cases = append(r.res.Cases, c.Name)
	}
	img, err := r.prepare(ctx, need{modules: true, cases: cs, kselftest: o.Suite == SuiteKselftest || o.Suite == SuiteAll})
	if img == nil {
		return r.res, err
	}
	defer img.release()
	if err != nil {
		return r.res, err
	}
	dec := newDecoder(img.kernel, filepath.Dir(img.modules[0]))
	for i, group := range Boots(img.cases) {
		b, err := r.boot(ctx, img, group, fmt.Sprintf("console-%d.log", i), bootMode{}, dec)
		if b != nil {
			r.res.Boots = append(r.res.Boots, b)
		}
		if err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

// Shell boots one VM with klptest's modules loaded and hands its console's
// shell to term; the run ends when the person leaves it.
func Shell(ctx context.Context, o Options, term Terminal) (*Result, error) {
	return newRun(o).single(ctx, bootMode{shell: &term}, "console-shell.log")
}

// BenchSnapshots boots the agent once to measure the cost of snapshots of
// every task at the task counts in spec ("100,1000") instead of running
// cases: klptest bench's guest half, in the Boot's trace.
func BenchSnapshots(ctx context.Context, o Options, spec string) (*Result, error) {
	return newRun(o).single(ctx, bootMode{benchSnapshots: spec}, "console-bench.log")
}

// single runs one boot of the agent that runs no case.
func (r *run) single(ctx context.Context, mode bootMode, console string) (*Result, error) {
	defer r.interrupted(ctx)
	img, err := r.prepare(ctx, need{modules: true})
	if img == nil {
		return r.res, err
	}
	defer img.release()
	if err != nil {
		return r.res, err
	}
	b, err := r.boot(ctx, img, nil, console, mode, nil)
	if b != nil {
		r.res.Boots = append(r.res.Boots, b)
	}
	return r.res, err
}
