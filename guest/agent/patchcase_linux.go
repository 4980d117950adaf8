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
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/cases"
)

// caseRun is one case's context: its emitter and its helpers.
type caseRun struct {
	c    cases.Case
	e    *emitter
	errs []string
}

func (r *caseRun) ev(ev cases.Event) {
	ev.Case = r.c.Name
	r.e.emit(ev)
}

func (r *caseRun) fail(err error) {
	r.ev(cases.Event{Type: cases.EvError, Error: err.Error()})
}

func (r *caseRun) op(kind string, goal int, f func() error) error {
	o := cases.Op{Kind: kind, Goal: goal, T0: now(), InProgress: true}
	begin := o
	r.ev(cases.Event{Type: cases.EvOp, Op: &begin})
	err := f()
	o.InProgress = false
	o.T1 = now()
	if err != nil {
		o.Err = err.Error()
	}
	r.ev(cases.Event{Type: cases.EvOp, Op: &o})
	return err
}

func sysfsPath(file string) string {
	return filepath.Join("/sys/kernel/livepatch", LivepatchName, file)
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// waitTransition polls sysfs until the transition is over, and records the
// read that saw it over: everything the kernel did for it happened before
// that read's T1.
func (r *caseRun) waitTransition(goal int) error {
	deadline := time.Now().Add(time.Duration(r.c.BoundSeconds) * time.Second)
	for {
		t0 := now()
		tr, err := readInt(sysfsPath("transition"))
		en, err2 := readInt(sysfsPath("enabled"))
		t1 := now()
		if err != nil || err2 != nil {
			// The sysfs directory goes away once an unpatch completes and
			// the patch is freed.
			if goal == cases.StateUnpatched && errors.Is(err, os.ErrNotExist) {
				r.ev(cases.Event{Type: cases.EvOp, Op: &cases.Op{Kind: cases.OpComplete, Goal: goal, T0: t0, T1: t1}})
				return nil
			}
			return fmt.Errorf("read livepatch sysfs: %v %v", err, err2)
		}
		if tr == 0 {
			r.ev(cases.Event{Type: cases.EvOp, Op: &cases.Op{Kind: cases.OpComplete, Goal: goal, T0: t0, T1: t1, Enabled: en, Transition: tr}})
			return nil
		}
		if time.Now().After(deadline) {
			r.ev(cases.Event{Type: cases.EvOp, Op: &cases.Op{Kind: cases.OpTimeout, Goal: goal, T0: t0, T1: t1, Enabled: en, Transition: tr}})
			return fmt.Errorf("transition to %d not complete after %ds", goal, r.c.BoundSeconds)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *caseRun) readCmdline() {
	t0 := now()
	b, err := os.ReadFile("/proc/cmdline")
	t1 := now()
	if err != nil {
		r.fail(fmt.Errorf("read /proc/cmdline: %w", err))
		return
	}
	r.ev(cases.Event{Type: cases.EvCmdline, Cmdline: &cases.CmdlineRead{T0: t0, T1: t1,
		Patched: strings.Contains(string(b), "klptest: this has been live patched")}})
}

// child is a worker or sleeper process of the case.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startChild(args ...string) (*child, error) {
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
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%v did not get ready: %q %v", args, line, err)
	}
	return c, nil
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

// Workload of the patch case: worker processes and threads calling the
// patched function, and sleepers elsewhere.
const (
	workerProcs   = 3
	workerThreads = 2
	sleepers      = 2
	settle        = 300 * time.Millisecond
)

// runPatch is the patch case: enable, wait, check the vmlinux half, disable,
// wait, check, unload; workers run throughout and the sampler records it all.
func runPatch(r *caseRun) {
	var kids []*child
	var workers []*child
	defer func() {
		for _, k := range kids {
			k.cmd.Process.Kill()
			k.cmd.Wait()
		}
	}()
	for i := 0; i < workerProcs; i++ {
		k, err := startChild(WorkerArg, strconv.Itoa(workerThreads))
		if err != nil {
			r.fail(err)
			return
		}
		kids = append(kids, k)
		workers = append(workers, k)
	}
	for i := 0; i < sleepers; i++ {
		k, err := startChild(SleeperArg)
		if err != nil {
			r.fail(err)
			return
		}
		kids = append(kids, k)
	}

	smp := startSampler(func(s cases.Snapshot) {
		r.ev(cases.Event{Type: cases.EvSnapshot, Snapshot: &s})
	}, r.fail)
	time.Sleep(settle)
	r.readCmdline()

	ko := filepath.Join(ModuleDir, LivepatchName+".ko")
	steps := func() error {
		smp.fast.Store(true)
		if err := r.op(cases.OpEnable, cases.StatePatched, func() error { return loadModule(ko) }); err != nil {
			return fmt.Errorf("load %s: %w", ko, err)
		}
		if err := r.waitTransition(cases.StatePatched); err != nil {
			return err
		}
		time.Sleep(settle / 3)
		smp.fast.Store(false)
		time.Sleep(settle)
		r.readCmdline()

		smp.fast.Store(true)
		if err := r.op(cases.OpDisable, cases.StateUnpatched, func() error {
			return os.WriteFile(sysfsPath("enabled"), []byte("0"), 0)
		}); err != nil {
			return fmt.Errorf("disable: %w", err)
		}
		if err := r.waitTransition(cases.StateUnpatched); err != nil {
			return err
		}
		time.Sleep(settle / 3)
		smp.fast.Store(false)
		time.Sleep(settle)
		r.readCmdline()
		return r.op(cases.OpUnload, cases.StateUnpatched, func() error { return unloadModule(LivepatchName, 10*time.Second) })
	}
	if err := steps(); err != nil {
		r.fail(err)
	}
	smp.shutdown()
	for _, w := range workers {
		res, err := w.stop()
		if len(res.Calls) > 0 {
			r.ev(cases.Event{Type: cases.EvCalls, Calls: res.Calls})
		}
		for _, e := range res.Errors {
			r.fail(errors.New(e))
		}
		if err != nil {
			r.fail(fmt.Errorf("worker: %w", err))
		}
	}
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module %s: %w", filepath.Base(path), err)
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
