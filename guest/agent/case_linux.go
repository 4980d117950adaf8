package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kmod/funcstack"
	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/wire"
)

// caseRun is one case's context.
type caseRun struct {
	c  cases.Case
	e  *emitter
	km *kmsg // nil when /dev/kmsg could not be opened
	// shellOnFail: after the steps, ask the host whether the case failed,
	// and if so open the shell before the cleanup undoes what failed.
	shellOnFail, shellOpened bool
	// cleaning: the cleanup runs; a stall there was examined already.
	cleaning bool
	t        *target
	smp      *sampler
	goal     int // the current transition's goal
	parked   map[string]*parker
	slots    int
	// kept: the livepatch modules a force left in for good.
	kept map[string]bool
	// The transition under way: its patch, direction and the versions
	// of every function at state 0 and 1; and the applied livepatches.
	patch       string
	enabling    bool
	versions    map[string][2]int
	stacks      funcstack.Stacks
	sysfsCounts map[string]int
	sleeper     int // a sleeper's pid, for fault injection
	workers     []*child
	// The running storm, and the probe's dropped-fork count seen so far.
	stormCmd        *exec.Cmd
	stormIn         io.WriteCloser
	stormOut        *bufio.Reader
	stormOp         wire.Op
	forksDropped    int
	switchesDropped int
	exitsDropped    int
	// preemptWas: the preemption model a preempt step replaced, which
	// the cleanup restores.
	preemptWas string
	// preemptModel: the model a preempt step found or set.
	preemptModel string
	// skip: why a require step ended the case before its test.
	skip    string
	drainMu sync.Mutex
	// The case's ops and forks so far, for a repeat step's condition;
	// the sampler's goroutine emits forks too.
	recMu    sync.Mutex
	ops      []wire.Op
	forks    []wire.ForkEvent
	switches []wire.SwitchAttempt
}

func (r *caseRun) ev(ev wire.Event) {
	ev.Case = r.c.Name
	r.recMu.Lock()
	switch {
	case ev.Type == wire.EvOp && !ev.Op.InProgress:
		r.ops = append(r.ops, *ev.Op)
	case ev.Type == wire.EvForks:
		r.forks = append(r.forks, ev.Forks...)
	case ev.Type == wire.EvSwitches:
		r.switches = append(r.switches, ev.Switches...)
	}
	r.recMu.Unlock()
	r.e.emit(ev)
}

func (r *caseRun) fail(err error) {
	r.ev(wire.Event{Type: wire.EvError, Error: err.Error()})
}

func (r *caseRun) op(o wire.Op, f func() error) error {
	o.T0, o.InProgress = now(), true
	begin := o
	r.ev(wire.Event{Type: wire.EvOp, Op: &begin})
	err := f()
	o.InProgress = false
	o.T1 = now()
	if o.Kind == wire.OpSysfs {
		o.Counts = r.sysfsCounts
	}
	if err != nil {
		o.Err = err.Error()
	}
	r.ev(wire.Event{Type: wire.EvOp, Op: &o})
	return err
}

func sysfsPath(patch, file string) string {
	return filepath.Join("/sys/kernel/livepatch", patch, file)
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// An unload-busy step tries to remove the module unloadBusyTries times,
// unloadBusyEvery apart: long against the kernel's asynchronous free of a
// replaced patch (milliseconds on an idle guest).
const (
	unloadBusyTries = 10
	unloadBusyEvery = 200 * time.Millisecond
)

// waitTransition polls sysfs until the transition is over, and records the
// read that saw it over: everything the kernel did for it happened before
// that read's T1.
func (r *caseRun) waitTransition(goal int) error {
	deadline := time.Now().Add(time.Duration(r.c.BoundSeconds) * time.Second)
	for {
		t0 := now()
		done, en, tr, err := r.completed(goal, t0)
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			r.ev(wire.Event{Type: wire.EvOp, Op: &wire.Op{Kind: wire.OpTimeout, Goal: goal, T0: t0, T1: now(), Enabled: en, Transition: tr}})
			err := fmt.Errorf("transition to %d not complete after %ds", goal, r.c.BoundSeconds)
			if !r.cleaning {
				r.forensics(err.Error())
			}
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// completed reads the current patch's transition and enabled attributes
// and says whether its transition to goal has completed, recording the
// completion as an op from t0 when it has.
func (r *caseRun) completed(goal int, t0 int64) (done bool, enabled, transition int, err error) {
	tr, err := readInt(sysfsPath(r.patch, "transition"))
	en, err2 := readInt(sysfsPath(r.patch, "enabled"))
	t1 := now()
	switch {
	case err != nil || err2 != nil:
		// The sysfs directory goes away once a transition to unpatched
		// completes and the patch is freed: its files fail with ENOENT,
		// or ENODEV while the directory is being removed.
		if goal == wire.StateUnpatched && gone(err) && gone(err2) {
			r.ev(wire.Event{Type: wire.EvOp, Op: &wire.Op{Kind: wire.OpComplete, Goal: goal, T0: t0, T1: t1}})
			return true, 0, 0, nil
		}
		return false, 0, 0, fmt.Errorf("read livepatch sysfs: %v %v", err, err2)
	case tr == 0:
		r.ev(wire.Event{Type: wire.EvOp, Op: &wire.Op{Kind: wire.OpComplete, Goal: goal, T0: t0, T1: t1, Enabled: en, Transition: tr}})
		return true, en, tr, nil
	}
	return false, en, tr, nil
}

// cmdlineRE finds the marker a livepatched cmdline_proc_show() prints.
var cmdlineRE = regexp.MustCompile(`klptest: live patched v([0-9]+)`)

func gone(err error) bool {
	return err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

func (r *caseRun) readCmdline() {
	t0 := now()
	b, err := os.ReadFile("/proc/cmdline")
	t1 := now()
	if err != nil {
		r.fail(fmt.Errorf("read /proc/cmdline: %w", err))
		return
	}
	rd := wire.CmdlineRead{T0: t0, T1: t1, Version: wire.VersionOld}
	if m := cmdlineRE.FindSubmatch(b); m != nil {
		rd.Version, _ = strconv.Atoi(string(m[1]))
	}
	rd.Patched = rd.Version != wire.VersionOld
	r.ev(wire.Event{Type: wire.EvCmdline, Cmdline: &rd})
}

// child is a worker or sleeper process of the case.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startChild(args ...string) (*child, error) {
	return startChildLine(func(line string) error {
		if line != "ready\n" {
			return fmt.Errorf("said %q", line)
		}
		return nil
	}, args...)
}

// startChildLine starts a child and hands its first line, which says it is
// ready, to ready.
func startChildLine(ready func(string) error, args ...string) (*child, error) {
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %v: %w", args, err)
	}
	c := &child{cmd: cmd, stdin: in, out: bufio.NewReader(out)}
	line, err := c.out.ReadString('\n')
	if err == nil {
		err = ready(line)
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%v did not get ready: %v", args, err)
	}
	return c, nil
}

// startChildren starts children with each argv at once and waits until
// every one is ready: on TCG each start of the agent's binary takes a
// good part of a second, one after another a case's first seconds.
func startChildren(argvs [][]string) ([]*child, error) {
	kids := make([]*child, len(argvs))
	errs := make([]error, len(argvs))
	var wg sync.WaitGroup
	for i, a := range argvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kids[i], errs[i] = startChild(a...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, k := range kids {
			if k != nil {
				k.cmd.Process.Kill()
				k.cmd.Wait()
			}
		}
		return nil, err
	}
	return kids, nil
}

// stop closes stdin and reads the worker's result, if any.
func (c *child) stop() (workerResult, error) {
	var res workerResult
	c.stdin.Close()
	b, _ := io.ReadAll(c.out)
	err := c.cmd.Wait()
	if len(strings.TrimSpace(string(b))) > 0 {
		if jerr := json.Unmarshal(b, &res); jerr != nil {
			return res, fmt.Errorf("worker result: %w", jerr)
		}
	}
	return res, err
}

// The workload every case runs: worker processes and threads calling the
// patched function, and sleepers elsewhere.
const (
	workerProcs = 3
	// chainWorkers are the chain workers a step starts, one task each:
	// more tasks spinning in the kernel than vCPUs, so that some are
	// running inside the chain and others are runnable, preempted or
	// between calls, whenever a stack check comes.
	chainWorkers  = 3
	workerThreads = 2
	sleepers      = 2
	settle        = 300 * time.Millisecond
)

// skipError ends a case's steps without failing it: the kernel lacks what
// the case tests.
type skipError struct{ why string }

func (e skipError) Error() string { return "skipped: " + e.why }

// runCase runs a case's steps with workers, sleepers and the sampler
// around them, then puts the kernel back as it found it where it can.
func runCase(r *caseRun) {
	var kids []*child
	defer func() {
		for _, k := range append(kids, r.workers...) {
			k.cmd.Process.Kill()
			k.cmd.Wait()
		}
	}()
	t, err := openTarget("klpt_target")
	if err != nil {
		r.fail(err)
		return
	}
	defer t.close()
	r.t = t
	r.parked = map[string]*parker{}
	var argvs [][]string
	if !r.c.Quiet {
		argvs = workerArgvs("klpt_target")
	}
	for i := 0; i < sleepers; i++ {
		argvs = append(argvs, []string{SleeperArg})
	}
	started, err := startChildren(argvs)
	if err != nil {
		r.fail(err)
		return
	}
	nw := len(argvs) - sleepers
	r.workers, kids = started[:nw], started[nw:]
	r.sleeper = kids[0].cmd.Process.Pid

	r.drainProbe() // forks before the case belong to no case
	r.smp = startSampler(func(s wire.Snapshot) {
		r.ev(wire.Event{Type: wire.EvSnapshot, Snapshot: &s})
	}, r.fail)
	r.smp.tick = r.drainProbe
	for i, st := range r.c.Steps {
		if err := r.step(st); err != nil {
			var sk skipError
			if errors.As(err, &sk) {
				r.skip = sk.why
				break
			}
			r.fail(fmt.Errorf("step %d (%s): %w", i+1, st.Do, err))
			if r.shellOnFail {
				// A failed step (a stall, a refused write): the shell
				// now, before the cleanup undoes what failed.
				r.shellOpened = true
				r.smp.paused.Store(true)
				if err := shell(shellBanner("case " + r.c.Name + " failed at step " + strconv.Itoa(i+1) + " (" + err.Error() + "); the VM is as it failed, before the cleanup")); err != nil {
					r.fail(err)
				}
				r.smp.paused.Store(false)
			}
			break
		}
	}
	// Workers stop first: a target module cannot go while they hold it.
	r.stopWorkers()
	r.cleanup()
	r.smp.shutdown()
	r.drainProbe()
}

// startWorkers starts the worker processes calling module's functions.
func (r *caseRun) startWorkers(module string) error {
	ws, err := startChildren(workerArgvs(module))
	r.workers = append(r.workers, ws...)
	return err
}

// startChainWorkers starts worker processes calling module's chain, the
// inner function klpt_target's with cross.
func (r *caseRun) startChainWorkers(module string, cross bool) error {
	if module == "" {
		module = "klpt_target"
	}
	var argvs [][]string
	for i := 0; i < chainWorkers; i++ {
		argvs = append(argvs, []string{WorkerArg, "1", module, chainArg, strconv.Itoa(cases.ChainSpinMicros), strconv.FormatBool(cross)})
	}
	ws, err := startChildren(argvs)
	r.workers = append(r.workers, ws...)
	return err
}

func workerArgvs(module string) [][]string {
	var out [][]string
	for i := 0; i < workerProcs; i++ {
		out = append(out, []string{WorkerArg, strconv.Itoa(workerThreads), module})
	}
	return out
}

// stopWorkers stops every worker and emits their calls.
func (r *caseRun) stopWorkers() {
	// All at once, then their results in order.
	type stopped struct {
		res workerResult
		err error
	}
	out := make([]stopped, len(r.workers))
	var wg sync.WaitGroup
	for i, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].res, out[i].err = w.stop()
		}()
	}
	wg.Wait()
	for _, o := range out {
		res, err := o.res, o.err
		if len(res.Calls) > 0 {
			r.ev(wire.Event{Type: wire.EvCalls, Calls: res.Calls})
		}
		if len(res.Chains) > 0 {
			r.ev(wire.Event{Type: wire.EvChains, Chains: res.Chains})
		}
		for _, e := range res.Errors {
			r.fail(errors.New(e))
		}
		if err != nil {
			r.fail(fmt.Errorf("worker: %w", err))
		}
	}
	r.workers = nil
}

func (r *caseRun) step(st cases.Step) error {
	patch := st.Patch
	if patch == "" {
		patch = table.DefaultLivepatch
	}
	switch st.Do {
	case cases.DoSettle:
		r.smp.fast.Store(false)
		time.Sleep(settle)
		r.readCmdline()
	case cases.DoEnable:
		vs, err := r.stacks.Enable(patch)
		if err != nil {
			return err
		}
		r.smp.fast.Store(true)
		r.patch, r.goal, r.enabling, r.versions = patch, wire.StatePatched, true, vs
		ko := filepath.Join(wire.ModuleDir, patch+".ko")
		return r.op(r.transitionOp(wire.OpEnable), func() error { return loadModuleStrict(ko) })
	case cases.DoDisable:
		vs, err := r.stacks.Disable(patch)
		if err != nil {
			return err
		}
		r.smp.fast.Store(true)
		r.patch, r.goal, r.enabling, r.versions = patch, wire.StateUnpatched, false, vs
		return r.op(r.transitionOp(wire.OpDisable), func() error { return writeSysfs(patch, "enabled", "0") })
	case cases.DoReverse:
		r.goal = 1 - r.goal
		return r.op(r.transitionOp(wire.OpReverse), func() error { return writeSysfs(r.patch, "enabled", strconv.Itoa(r.goal)) })
	case cases.DoForce:
		r.forceKeeps()
		return r.op(r.transitionOp(wire.OpForce), func() error { return writeSysfs(r.patch, "force", "1") })
	case cases.DoWait:
		if err := r.waitTransition(r.goal); err != nil {
			return err
		}
		r.applied()
		time.Sleep(settle / 3) // the sampler sees the end at full rate
		r.smp.fast.Store(false)
	case cases.DoWaitStall:
		return r.waitStall()
	case cases.DoWaitChainKinds:
		return r.waitChainKinds()
	case cases.DoStormStart:
		return r.stormStart(st)
	case cases.DoRepeat:
		return r.repeat(st)
	case cases.DoLeaks:
		o := wire.Op{Kind: wire.OpLeaks, Goal: r.goal, T0: now()}
		c, err := readLeakCounts()
		o.T1, o.Counts = now(), c
		if err != nil {
			o.Err = err.Error()
		}
		r.ev(wire.Event{Type: wire.EvOp, Op: &o})
		return err
	case cases.DoPause:
		ms := st.Millis
		if ms == 0 {
			ms = cases.PauseMillis
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case cases.DoStormWait:
		return r.stormWait()
	case cases.DoStormPause:
		return r.stormPause()
	case cases.DoStormResume:
		return r.stormResume()
	case cases.DoRequire:
		if !kernelHas(st.Symbol) {
			return skipError{why: fmt.Sprintf("the kernel has no %s(): %s", st.Symbol, st.Why)}
		}
	case cases.DoPark, cases.DoParkKernel, cases.DoSpinKernel:
		return r.park(st)
	case cases.DoRelease:
		return r.release(st.Park)
	case cases.DoSysfs:
		return r.op(wire.Op{Kind: wire.OpSysfs, Goal: r.goal}, func() error {
			// The kernel frees a replaced patch asynchronously
			// (klp_free_replaced_patches_async()): wait for its
			// directory to go, up to a bound, then read. Still there
			// at the bound, it is read as it is, and the case's check
			// says so.
			if st.Patch != "" {
				dir := filepath.Join("/sys/kernel/livepatch", st.Patch)
				for deadline := time.Now().Add(sysfsGoneBound); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
						break
					}
				}
			}
			r.sysfsCounts = readLivepatchSysfs()
			return nil
		})
	case cases.DoLoad:
		return r.op(wire.Op{Kind: wire.OpLoad, Goal: r.goal, Patch: st.Module}, func() error {
			return loadModuleStrict(filepath.Join(wire.ModuleDir, st.Module+".ko"))
		})
	case cases.DoRemove:
		return r.op(wire.Op{Kind: wire.OpRemove, Goal: r.goal, Patch: st.Module}, func() error { return unloadModule(st.Module, 10*time.Second) })
	case cases.DoWorkers:
		if st.Chain {
			return r.startChainWorkers(st.Module, st.Cross)
		}
		return r.startWorkers(st.Module)
	case cases.DoInject:
		pid := r.sleeper
		if p, ok := r.parked[st.Park]; ok {
			pid = p.tid
		}
		return r.op(wire.Op{Kind: wire.OpInject, Goal: r.goal, Park: st.Park, TID: pid, Fault: st.Fault}, func() error {
			return os.WriteFile("/proc/klpt_inject", []byte(fmt.Sprintf("%s %d", st.Fault, pid)), 0)
		})
	case cases.DoBreakPort:
		return r.e.breakPort(st.Fault)
	case cases.DoPreempt:
		return r.preempt()
	case cases.DoUnload:
		return r.op(wire.Op{Kind: wire.OpUnload, Goal: r.goal, Patch: patch}, func() error { return unloadModule(patch, 10*time.Second) })
	case cases.DoUnloadBusy:
		return r.op(wire.Op{Kind: wire.OpBusy, Goal: r.goal, Patch: patch}, func() error {
			// Tried again and again: the kernel puts a patch's module
			// after it freed the patch, asynchronously for a replaced
			// one, and a kernel that puts a forced one would let it go
			// only then.
			for i := 0; i < unloadBusyTries; i++ {
				if i > 0 {
					time.Sleep(unloadBusyEvery)
				}
				err := unix.DeleteModule(patch, unix.O_NONBLOCK)
				if err == nil {
					return fmt.Errorf("delete_module %s succeeded (try %d); the kernel must keep a forced patch's module", patch, i+1)
				}
				if _, serr := os.Stat("/sys/module/" + patch); serr != nil {
					return fmt.Errorf("delete_module %s: %v, yet the module is gone: %v", patch, err, serr)
				}
			}
			return nil
		})
	default:
		return fmt.Errorf("unknown step %q", st.Do)
	}
	return nil
}

// repeat runs the step's Repeat steps in rounds until its Until condition
// holds, or Rounds rounds ran, or its Seconds (0: cases.RepeatSeconds)
// passed. It emits a repeat
// op with the rounds it ran (and whether the condition held) in Counts.
func (r *caseRun) repeat(st cases.Step) error {
	met, ok := cases.Untils[st.Until]
	if st.Until == "" {
		met, ok = func([]wire.Op, []wire.ForkEvent, time.Duration) bool { return false }, true
	}
	if !ok {
		return fmt.Errorf("unknown repeat condition %q", st.Until)
	}
	o := wire.Op{Kind: wire.OpRepeat, Goal: r.goal, T0: now()}
	start := time.Now()
	bound := time.Duration(cases.RepeatSeconds) * time.Second
	if st.Seconds > 0 {
		bound = time.Duration(st.Seconds) * time.Second
	}
	deadline := start.Add(bound)
	rounds, held := 0, false
	for rounds < st.Rounds && time.Now().Before(deadline) {
		for i, sub := range st.Repeat {
			if err := r.step(sub); err != nil {
				return fmt.Errorf("round %d, step %d (%s): %w", rounds+1, i+1, sub.Do, err)
			}
		}
		rounds++
		r.drainProbe()
		r.recMu.Lock()
		held = met(r.ops, r.forks, time.Since(start))
		r.recMu.Unlock()
		if held {
			break
		}
	}
	o.T1 = now()
	o.Counts = map[string]int{"rounds": rounds}
	if held {
		o.Counts["met"] = 1
	}
	r.ev(wire.Event{Type: wire.EvOp, Op: &o})
	return nil
}

// transitionOp is an op of the current transition, with its versions.
func (r *caseRun) transitionOp(kind string) wire.Op {
	v0, v1, funcs := funcstack.OpVersions(r.versions)
	return wire.Op{Kind: kind, Goal: r.goal, Patch: r.patch, V0: v0, V1: v1, Funcs: funcs}
}

// applied updates the stacks once a transition completed.
func (r *caseRun) applied() {
	r.stacks.Complete(r.patch, r.enabling, r.goal)
}

// readLivepatchSysfs reads every livepatch's enabled, transition, force-free
// attributes, and stack_order and replace where the kernel has them.
// sysfsGoneBound bounds the wait for a replaced patch's sysfs directory to
// go: the kernel's work frees it within milliseconds on an idle guest, and
// a TCG guest under load takes a few times that.
const sysfsGoneBound = 10 * time.Second

func readLivepatchSysfs() map[string]int {
	out := map[string]int{}
	dirs, _ := filepath.Glob("/sys/kernel/livepatch/*")
	for _, d := range dirs {
		for _, f := range []string{"enabled", "transition", "stack_order", "replace"} {
			if v, err := readInt(filepath.Join(d, f)); err == nil {
				out[filepath.Base(d)+"."+f] = v
			}
		}
	}
	return out
}

func writeSysfs(patch, file, v string) error {
	return os.WriteFile(sysfsPath(patch, file), []byte(v), 0)
}

// waitStall waits until every task but the parked ones is at the goal, as
// the probe sees it, and checks the transition is still open.
func (r *caseRun) waitStall() error {
	skip := map[int]bool{}
	for _, p := range r.parked {
		skip[p.tid] = true
	}
	deadline := time.Now().Add(time.Duration(r.c.BoundSeconds) * time.Second)
	for {
		t0 := now()
		b, err := os.ReadFile("/proc/klpt_tasks")
		if err != nil {
			return err
		}
		s, err := ParseProbe(b)
		if err != nil {
			return err
		}
		behind := ""
		for _, t := range s.Tasks {
			if !skip[t.PID] && t.State != r.goal {
				behind = t.Name()
				break
			}
		}
		// Read after the probe: a transition open now was open when the
		// probe was read. One that completed leaves every task at -1,
		// behind for ever: say that it completed, and record when, so
		// that the case's checks see the parked tasks it was to wait for
		// switched (at completion every task is at the goal).
		if done, _, _, err := r.completed(r.goal, t0); err != nil {
			return err
		} else if done {
			r.applied() // so that cleanup takes off what is now applied
			return fmt.Errorf("the transition completed although a parked task was to hold it open")
		}
		if behind == "" {
			r.ev(wire.Event{Type: wire.EvOp, Op: &wire.Op{Kind: wire.OpStall, Goal: r.goal, T0: t0, T1: now()}})
			return nil
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("%s still not at the goal %d after %ds", behind, r.goal, r.c.BoundSeconds)
			r.forensics(err.Error())
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cleanup releases what the steps left parked and leaves no livepatch
// behind, so that the next case in the boot starts clean. A forced patch
// stays: the kernel keeps it.
func (r *caseRun) cleanup() {
	r.cleaning = true
	if r.stormCmd != nil {
		r.stormCmd.Process.Kill()
		r.stormWait()
	}
	// Whether a transition is open is read before the parked tasks go:
	// once released, the one that held it may let it complete before a
	// later read, and a completed enable would then never be recorded as
	// applied, nor disabled, and its module could not be removed.
	open := false
	if r.patch != "" {
		if tr, err := readInt(sysfsPath(r.patch, "transition")); err == nil && tr == 1 {
			open = true
		}
	}
	for name, p := range r.parked {
		if err := r.release(name); err != nil {
			r.fail(fmt.Errorf("cleanup: release %s: %w", p.name, err))
		}
	}
	if open && r.waitTransition(r.goal) == nil {
		r.applied()
	}
	// Disable what is applied, topmost first, then unload every livepatch
	// module left; a forced one stays, as the kernel keeps it.
	for a := r.stacks.Applied(); len(a) > 0; a = r.stacks.Applied() {
		top := a[len(a)-1]
		if err := r.step(cases.Step{Do: cases.DoDisable, Patch: top}); err != nil {
			r.fail(fmt.Errorf("cleanup: %w", err))
			break
		}
		if err := r.step(cases.Step{Do: cases.DoWait}); err != nil {
			r.fail(fmt.Errorf("cleanup: %w", err))
			break
		}
	}
	if err := r.restorePreempt(); err != nil {
		r.fail(fmt.Errorf("cleanup: preemption model: %w", err))
	}
	// The resident modules stay for the next case.
	for _, name := range caseModules(table.Modules) {
		if _, err := os.Stat("/sys/module/" + name); err != nil || r.kept[name] {
			continue
		}
		if err := unloadModule(name, 10*time.Second); err != nil {
			r.fail(fmt.Errorf("cleanup: %w", err))
		}
	}
}

// forceKeeps notes the modules the kernel keeps once the current
// transition is forced, as klp_force_transition() marks their patches
// forced: a forced unpatch's own, or every patch a forced replace removes
// (tasks forced off them may still run their code).
func (r *caseRun) forceKeeps() {
	if r.kept == nil {
		r.kept = map[string]bool{}
	}
	if r.goal == wire.StateUnpatched {
		r.kept[r.patch] = true
		return
	}
	if m, _ := table.Patch(r.patch); m.Replace {
		for _, a := range r.stacks.Applied() {
			r.kept[a] = true
		}
	}
}

// loadModuleStrict loads a module that must not be loaded already.
func loadModuleStrict(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		return fmt.Errorf("finit_module %s: %w", filepath.Base(path), err)
	}
	return nil
}

// loadModule loads a module, which may be loaded already.
func loadModule(path string) error {
	if err := loadModuleStrict(path); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// unloadModule retries while the module is busy: a disabled livepatch is
// freed asynchronously.
func unloadModule(name string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := unix.DeleteModule(name, unix.O_NONBLOCK)
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("delete_module %s: %w", name, err)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readLeakCounts reads what a leak grows (wire.Leak*): klpt_target's
// reference count, the livepatches in sysfs, and memory.
func readLeakCounts() (map[string]int, error) {
	c := map[string]int{}
	ref, err := readInt("/sys/module/klpt_target/refcnt")
	if err != nil {
		return c, err
	}
	c[wire.LeakRefcnt] = ref
	dirs, _ := filepath.Glob("/sys/kernel/livepatch/*")
	c[wire.LeakLivepatches] = len(dirs)
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return c, err
	}
	m, err := parseMeminfo(b, wire.MeminfoLeakKeys)
	for k, v := range m {
		c[k] = v
	}
	return c, err
}
