package wire

import "strings"

// SwitchAttempt is one attempt of the kernel's to switch a task that was
// inside a chain call of a target's, or an idle task, as the probe module saw it in
// klp_check_and_switch_task(): the one place where a transition checks a
// task's stack and switches it (the transition's retries, and in kernels
// that have it klp_sched_try_switch()). OnCPU and Runnable are read under
// the task's pi_lock and runqueue lock, as the kernel's check sees them;
// Entered, Returned and Where are the chain's own position, which the
// task writes as it runs.
type SwitchAttempt struct {
	T    int64 `json:"t"`
	PID  int   `json:"pid"`
	TGID int   `json:"tgid"`
	// Self: the task checked itself (klp_sched_try_switch()), on its
	// own CPU: only its stack check stands.
	Self bool `json:"self,omitempty"`
	// OnCPU: the task was on a CPU (its on_cpu); Runnable: its state
	// was TASK_RUNNING (on a CPU, or preempted and waiting for one).
	OnCPU    bool `json:"on_cpu,omitempty"`
	Runnable bool `json:"runnable,omitempty"`
	// Where is ChainAtSpin, ChainAtPark or 0 (calling, or returning).
	Where int `json:"where,omitempty"`
	// Entered counts the chain's functions that had begun, Returned
	// those that had come back: the task is inside the chain while
	// Entered > Returned.
	Entered  int `json:"entered"`
	Returned int `json:"returned,omitempty"`
	// State and Pending are the task's before the attempt.
	State   int  `json:"state"`
	Pending bool `json:"pending,omitempty"`
	// Ret is klp_check_and_switch_task()'s result: 0, the task was
	// switched; -EBUSY (running elsewhere), -EINVAL (unreliable stack)
	// or -EADDRINUSE (a patched function on its stack): refused.
	Ret int `json:"ret"`
	// Idle: the task was CPU's idle task (never in a chain). -EBUSY then
	// says the CPU was idle, its idle task current.
	Idle bool `json:"idle,omitempty"`
	CPU  int  `json:"cpu,omitempty"`
	// Hook, when set, says the record is not an attempt of
	// klp_check_and_switch_task()'s but a run of the scheduler's switch
	// point (__klp_sched_try_switch()) in the task, with its
	// TIF_PATCH_PENDING set, and names the function it was called from.
	// Its outcome is not in it (Ret is HookRet): the task's next record
	// tells.
	Hook string `json:"hook,omitempty"`
}

// HookRet is a hook record's Ret: no outcome.
const HookRet = 1

// Where the scheduler's switch point is called from (HookPoint). Before
// "sched,livepatch: Untangle cond_resched() and live-patching"
// klp_sched_try_switch() is called from cond_resched(), in a running
// task; after it, from __schedule() in a task going to sleep
// TASK_FREEZABLE.
const (
	HookCondResched = "cond_resched()"
	HookFreezable   = "a freezable sleep"
)

// HookPoint says where a hook record's switch point ran, from its caller:
// HookFreezable, HookCondResched, or the caller itself.
func (s SwitchAttempt) HookPoint() string {
	switch {
	case s.Hook == "__schedule":
		return HookFreezable
	case strings.Contains(s.Hook, "cond_resched"):
		return HookCondResched
	}
	return s.Hook
}

// Where a chain task was (klpt_uapi.h's KLPT_CHAIN_AT_*).
const (
	ChainAtSpin = 1 // spinning on the CPU: a spinning park, or the outer function's spin
	ChainAtPark = 2 // asleep in a parking slot, in the inner or the outer function
)

// klp_check_and_switch_task()'s refusals, as Linux numbers them on every
// arch klptest boots.
const (
	ErrnoBusy      = -16 // EBUSY: running on another CPU
	ErrnoInval     = -22 // EINVAL: the stack could not be walked reliably
	ErrnoAddrInUse = -98 // EADDRINUSE: a patched function on the stack
)

// InChain says whether one of the chain's functions was on the task's
// stack (or running) when the kernel tried to switch it: one had begun
// and had not come back. The marks are written inside the functions'
// bodies, after their entry and before their return, so a task counted
// in the chain certainly was; one that had just called in or was just
// returning may go uncounted.
func (s SwitchAttempt) InChain() bool { return s.Entered > s.Returned }

// The kinds of chain task the chain case wants the kernel to try to switch
// in every transition phase (SwitchAttempt.Kind).
const (
	// ChainOnCPU: running on another CPU inside the chain; only the
	// refusal of a task on another CPU (and the unwinder's of a moving
	// stack) stands between it and a switch.
	ChainOnCPU = "on-cpu"
	// ChainPreempted: runnable but off its CPU, taken off it inside the
	// chain's spin or call, not asleep: its stack holds the interrupt
	// or preemption frame, and only the stack check refuses it.
	ChainPreempted = "preempted"
	// ChainAsleep: asleep in a parking slot inside the chain.
	ChainAsleep = "asleep"
)

// ChainKinds are the kinds, in the order the verdicts list them.
var ChainKinds = []string{ChainOnCPU, ChainPreempted, ChainAsleep}

// Kind says which of ChainKinds the task was, or "" when it was not inside
// the chain or was none of them (woken, not yet on a CPU; checking
// itself).
func (s SwitchAttempt) Kind() string {
	switch {
	case !s.InChain(), s.Hook != "":
		return ""
	case s.Self:
		return ""
	case s.OnCPU:
		return ChainOnCPU
	case s.Runnable && s.Where != ChainAtPark:
		return ChainPreempted
	case !s.Runnable && s.Where == ChainAtPark:
		return ChainAsleep
	}
	return ""
}

// ChainKindsSince counts the attempts at or after t0, by kind.
func ChainKindsSince(sw []SwitchAttempt, t0 int64) map[string]int {
	n := map[string]int{}
	for _, s := range sw {
		if k := s.Kind(); k != "" && s.T >= t0 {
			n[k]++
		}
	}
	return n
}

// Phase is one stretch of a transition with one goal: from an enable's,
// a disable's or a reverse's write to the next of those or to the
// completion.
type Phase struct {
	Kind   string // OpEnable, OpDisable or OpReverse
	Goal   int
	T0, T1 int64
	// Complete: the phase ended with the transition's completion (else
	// with a reverse, a force or the case's end).
	Complete bool
}

// Phases returns the transition phases of ops, in order. A phase begins at
// its write's T0, for the kernel may act before the write returns, and
// ends at the T1 of the read that saw the transition complete, or at the
// next phase's start.
func Phases(ops []Op) []Phase {
	var out []Phase
	open := -1
	for _, o := range ops {
		if o.InProgress {
			continue
		}
		switch o.Kind {
		case OpEnable, OpDisable, OpReverse:
			if open >= 0 {
				out[open].T1 = o.T0
			}
			out = append(out, Phase{Kind: o.Kind, Goal: o.Goal, T0: o.T0})
			open = len(out) - 1
		case OpForce, OpTimeout:
			if open >= 0 {
				out[open].T1 = o.T0
				open = -1
			}
		case OpComplete:
			if open >= 0 {
				out[open].T1, out[open].Complete = o.T1, true
				open = -1
			}
		}
	}
	if open >= 0 {
		out = out[:open] // never ended: no span to judge
	}
	return out
}

// ChainPresence counts, per phase of ops, the attempts to switch a task
// inside a chain, by kind.
func ChainPresence(ops []Op, sw []SwitchAttempt) ([]Phase, []map[string]int) {
	ph := Phases(ops)
	out := make([]map[string]int, len(ph))
	for i := range ph {
		out[i] = map[string]int{}
		for _, s := range sw {
			if s.T >= ph[i].T0 && s.T <= ph[i].T1 {
				if k := s.Kind(); k != "" {
					out[i][k]++
				}
			}
		}
	}
	return ph, out
}
