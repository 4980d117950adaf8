package runner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// session is one boot's conversation with its VM: it folds the guest's
// events into the trace (onEvent), answers the agent on the result port,
// and, when the VM outlives a bound, takes the host's evidence and ends it
// (expire). Its run ends when QEMU is gone.
type session struct {
	r      *run
	m      machine
	b      *Boot
	cs     []cases.Case
	cancel context.CancelFunc // ends the VM
	// collect takes the host's evidence of a VM about to be killed.
	collect func(reason, running, kernelText string) *HostForensics

	t0                                  time.Time
	helloSeen, bootTimedOut, vmTimedOut atomic.Bool
	running, kernelText                 atomic.Value // string: the case under way, _text's address
	hostF                               chan *HostForensics
	once                                sync.Once
}

// bootEnd is how a boot ended, as the session saw it: what classify
// decides on.
type bootEnd struct {
	Exit      *vm.Exit // nil when QEMU could not be waited for
	WaitErr   error
	StreamErr error // the result stream's end: nil after a done event
	// BootTimedOut: no hello within BootBound; VMTimedOut: the VM
	// outlived VMBound. Interrupted: the run's context ended.
	BootTimedOut, VMTimedOut, Interrupted bool
	BootBound, VMBound                    time.Duration
	Forensics                             *HostForensics
}

// run holds the session until QEMU is gone. bootBound bounds the time to
// the agent's hello; vmBound the VM's life (0: none, a person sets the
// pace).
func (s *session) run(bootBound, vmBound time.Duration) bootEnd {
	s.t0 = time.Now()
	s.running.Store("")
	s.kernelText.Store("")
	s.hostF = make(chan *HostForensics, 1)
	// A kernel that does not boot (a bad image, a hang before init) would
	// otherwise hold the VM for its whole bound.
	bootTimer := time.AfterFunc(bootBound, func() {
		if !s.helloSeen.Load() {
			s.expire(&s.bootTimedOut, fmt.Sprintf("the guest agent did not start within %v", bootBound))
		}
	})
	defer bootTimer.Stop()
	// No timer at all for no bound: AfterFunc(0) fires at once, before a
	// Stop right after it can be sure to win (it did not, once: a shell
	// killed as it booted, "the VM did not finish within 0s").
	var vmTimer *time.Timer
	if vmBound > 0 {
		vmTimer = time.AfterFunc(vmBound, func() { s.expire(&s.vmTimedOut, fmt.Sprintf("the VM did not finish within %v", vmBound)) })
		defer vmTimer.Stop()
	}

	s.b.Trace = &wire.Trace{}
	streamErr := wire.Read(s.m.Results(), s.b.Trace, s.onEvent)
	exit, werr := s.m.Wait()
	s.b.Exit = exit
	s.b.Timing.Exit = s.since()
	s.r.res.Phases[PhaseVM] += time.Since(s.t0)
	// No collection after the VM is gone: stop the timers, wait for one
	// under way, and bar later ones. Only then are the flags final.
	bootTimer.Stop()
	if vmTimer != nil {
		vmTimer.Stop()
	}
	s.once.Do(func() {})
	select {
	case s.b.HostForensics = <-s.hostF:
	default:
	}
	return bootEnd{Exit: exit, WaitErr: werr, StreamErr: streamErr,
		BootTimedOut: s.bootTimedOut.Load(), VMTimedOut: s.vmTimedOut.Load(),
		BootBound: bootBound, VMBound: vmBound, Forensics: s.b.HostForensics}
}

func (s *session) since() int64 { return int64(time.Since(s.t0)) }

// expire ends a VM that outlived a bound, once: the host first takes what
// evidence QEMU's monitor gives, since the agent may be what hangs.
func (s *session) expire(flag *atomic.Bool, reason string) {
	s.once.Do(func() {
		flag.Store(true)
		s.hostF <- s.collect(reason, s.running.Load().(string), s.kernelText.Load().(string))
		s.cancel()
	})
}

// onEvent follows the guest as its events arrive: the timing, progress,
// and the replies the agent waits for.
func (s *session) onEvent(ev wire.Event) {
	b, res, progress := s.b, s.r.res, s.r.progress
	switch ev.Type {
	case wire.EvCaseEnd:
		s.running.Store("")
		if n := len(b.Timing.Cases); n > 0 {
			b.Timing.Cases[n-1].End = s.since()
		}
	case wire.EvDone:
		b.Timing.Done = s.since()
	case wire.EvHello:
		if ev.Hello != nil {
			s.kernelText.Store(ev.Hello.KernelText)
		}
		s.helloSeen.Store(true)
		b.Timing.Ready = s.since()
		res.Phases[string(StepBoot)] += time.Since(s.t0)
		progress(StepBoot, "agent ready")
	case wire.EvCaseStart:
		s.running.Store(ev.Case)
		b.Timing.Cases = append(b.Timing.Cases, CaseTiming{Case: ev.Case, Start: s.since()})
		// Earlier boots' cases have their verdicts already.
		progress(StepCase, fmt.Sprintf("%s (%d/%d)", ev.Case, len(res.Verdicts)+len(b.Trace.Cases), len(res.Cases)))
	case wire.EvAsk:
		answerShellOnFail(s.m, b.Trace, s.cs, ev.Case, progress)
	case wire.EvForensics:
		progress(StepForensics, fmt.Sprintf("%s: %s", ev.Case, ev.Forensics.Reason))
		if ev.Forensics.Paused {
			if path := dumpVmcore(s.m, b.ConsoleLog, ev.Case, len(b.Vmcores), progress); path != "" {
				b.Vmcores = append(b.Vmcores, Vmcore{Case: ev.Case, Path: path})
			}
		}
	}
}

// bootClass is what a boot's end means for its cases.
type bootClass int

const (
	// classJudged: every case of the boot is judged; one the VM ended
	// before or during fails with the reason (a panic, a timeout, a
	// broken stream): the kernel's doing, or the agent's.
	classJudged bootClass = iota
	// classInterrupted: the run was interrupted; the cases that ended
	// keep their verdicts.
	classInterrupted
	// classOutside: QEMU ended from outside, which says nothing about the
	// kernel; the ended cases keep their verdicts and the run could not
	// test (exit 125: bisect skips it).
	classOutside
	// classInfra: klptest could not test at all (no boot to the agent);
	// no verdicts.
	classInfra
)

// bootOutcome is classify's decision.
type bootOutcome struct {
	class bootClass
	// incomplete says why the boot stopped short ("" if it did not);
	// runIncomplete: the whole run is incomplete for it too.
	incomplete    string
	runIncomplete bool
	err           error // an *InfraError, for classOutside and classInfra
}

// classify decides what a boot's end means: whether its cases are judged,
// why it is incomplete, and whether klptest could not test (the exit 125
// that `git bisect run` skips). It is pure.
func classify(end bootEnd, tr *wire.Trace, names []string) bootOutcome {
	exit := end.Exit
	switch {
	case end.BootTimedOut && !end.Interrupted:
		why := fmt.Sprintf("the guest agent did not start within %v", end.BootBound)
		return bootOutcome{class: classInfra, incomplete: why,
			err: infra("boot", fmt.Errorf("the kernel did not boot to the guest agent within %v; %s; %s", end.BootBound, end.Forensics.Summary(), consoleTail(exit)))}
	case end.WaitErr != nil && exit == nil:
		return bootOutcome{class: classInfra, err: infra("vm", end.WaitErr)}
	}
	var out bootOutcome
	if end.VMTimedOut && !end.Interrupted {
		out.incomplete = fmt.Sprintf("the VM did not finish within %v; %s", end.VMBound, end.Forensics.Summary())
	}
	switch {
	case end.Interrupted:
		return bootOutcome{class: classInterrupted, incomplete: "interrupted", runIncomplete: true}
	case exit != nil && exit.Outside():
		why := "QEMU " + exit.String() + ", not by klptest or its guest"
		ended := 0
		for _, ct := range tr.Cases {
			if ct.End != nil {
				ended++
			}
		}
		last := "none"
		if tr.Last != "" {
			last = fmt.Sprintf("%q", tr.Last)
		}
		return bootOutcome{class: classOutside, incomplete: why, runIncomplete: true,
			err: infra("vm", fmt.Errorf("QEMU ended from outside during %s: %s (last event from the guest: %s; %d of %d cases had finished)\n%s",
				strings.Join(names, ", "), exit, last, ended, len(names), consoleTail(exit)))}
	case tr.Hello == nil:
		// Nothing ran: the kernel or the agent never came up.
		why := "the kernel did not boot to the guest agent: it never reported"
		if end.StreamErr != nil {
			why += ": " + end.StreamErr.Error()
		}
		out.class, out.err = classInfra, infra("boot", fmt.Errorf("%s; QEMU: %v\n%s", why, exit, consoleTail(exit)))
	}
	return out
}
