package cases

import (
	"fmt"
	"sort"
	"time"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// The scheduler's switch point. A kernel thread never returns to user
// space, where klp_update_patch_state() switches user tasks, and a
// CPU-bound one is running whenever the transition's tries look at it, so
// klp_check_and_switch_task() refuses it (-EBUSY). Since 6.4 the kernel
// lets such a task switch itself: klp_sched_try_switch() calls
// __klp_sched_try_switch(), which tries current when its TIF_PATCH_PENDING
// is set, while a transition has the hook on. Where it is called differs:
//   - from 6.4 ("livepatch,sched: Add livepatch task switching to
//     cond_resched()"), in cond_resched(), in a running task;
//   - after "sched,livepatch: Untangle cond_resched() and live-patching",
//     in __schedule(), for a task going to sleep TASK_FREEZABLE only.
//
// The case's kthread S (klpt_target's klpt_spin_fn()) does both: it spins,
// calls cond_resched() after each spin, and every tenth sleeps briefly
// TASK_INTERRUPTIBLE | TASK_FREEZABLE, never inside a patched function. On
// either kernel its hook comes within a few dozen milliseconds of the
// transition's start, finds nothing of the patch on its stack (S checks
// itself, so no other CPU's refusal stands), and must switch it. The
// probe records every run of the hook in S with the flag set (a
// wire.SwitchAttempt with Hook) and every other task's attempt on S. The
// verdict counts where the hook switched S, which says which of the two
// the kernel has.
const (
	// SchedSwitchTask is the case's spinning kthread.
	SchedSwitchTask = "S"
	// schedSwitchBound: S's hook comes every few dozen milliseconds;
	// still pending this long after its transition began, with the
	// hook never run in it, S was left to the tries that catch it
	// asleep.
	schedSwitchBound = 5 * time.Second
	// schedPassesPerTransition bounds S's passes with its flag set into
	// the switch point's place, per transition.
	schedPassesPerTransition = 3
)

func init() {
	register(Case{
		Name: "sched-switch",
		Doc:  "a kernel thread spinning on a CPU, with cond_resched() and brief freezable sleeps, is switched by the kernel's scheduler switch point (klp_sched_try_switch()) in each transition, without the fake signal; the verdict says where the hook ran",
		// Nothing but S could hold a transition: no workers, and the
		// bound on tries of a transition nothing holds (see the idle
		// case).
		Quiet:    true,
		MaxTries: 3,
		Steps: seq([]Step{
			{Do: DoRequire, Symbol: "__klp_sched_try_switch", Why: "no scheduler switch point for livepatch (klp_sched_try_switch() came in 6.4): a CPU-bound kernel thread switches only when a try finds it asleep"},
			{Do: DoSettle},
			{Do: DoSpinKernel, Park: SchedSwitchTask},
		}, patchSteps, []Step{
			{Do: DoDisable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoRelease, Park: SchedSwitchTask},
			{Do: DoUnload},
		}),
		Check:  checkSchedSwitch,
		Counts: schedSwitchCounts,
	})
}

// schedRun is what one transition's run did to S.
type schedRun struct {
	op wire.Op
	// hooks are the runs of the hook in S with its flag set, in order;
	// caught is the first other task's attempt that switched it.
	hooks  []wire.SwitchAttempt
	caught *wire.SwitchAttempt
	// selfRet is what the first hook's own klp_check_and_switch_task()
	// returned, when the probe saw it (the call is not inlined); nil
	// otherwise.
	selfRet *int
	// pendingAt is the last probe snapshot (its T1) that saw S pending.
	pendingAt int64
}

// schedRuns splits S's records by the transition run they fall in: a run
// begins with an enable, disable or reverse op (the kernel sets the flags
// inside it) and lasts until the next.
func schedRuns(ct *wire.CaseTrace, pid int) []schedRun {
	var runs []schedRun
	for _, o := range ct.Ops {
		switch o.Kind {
		case wire.OpEnable, wire.OpDisable, wire.OpReverse:
			runs = append(runs, schedRun{op: o})
		}
	}
	at := func(t int64) int {
		i := sort.Search(len(runs), func(i int) bool { return runs[i].op.T0 > t })
		return i - 1
	}
	sw := append([]wire.SwitchAttempt(nil), ct.Switches...)
	sort.SliceStable(sw, func(i, j int) bool { return sw[i].T < sw[j].T })
	for _, s := range sw {
		i := at(s.T)
		if s.PID != pid || i < 0 {
			continue
		}
		r := &runs[i]
		switch {
		case s.Hook != "" && s.Pending:
			if r.caught == nil {
				r.hooks = append(r.hooks, s)
			}
		case s.Hook == "" && !s.Self && s.Ret == 0 && r.caught == nil:
			s := s
			r.caught = &s
		case s.Hook == "" && s.Self && len(r.hooks) == 1 && r.selfRet == nil:
			ret := s.Ret
			r.selfRet = &ret
		}
	}
	for _, sn := range ct.Snapshots {
		if sn.Source != wire.SourceProbe {
			continue
		}
		i := at(sn.T0)
		if i < 0 {
			continue
		}
		for _, t := range sn.Tasks {
			if t.PID == pid && t.Pending != nil && *t.Pending && sn.T1 > runs[i].pendingAt {
				runs[i].pendingAt = sn.T1
			}
		}
	}
	return runs
}

// schedSwitchCounts: the transitions in which S's hook switched it, by
// where the hook ran; those in which another task's try caught it first.
func schedSwitchCounts(ct *wire.CaseTrace) map[string]int {
	n := map[string]int{"switched-at-cond-resched": 0, "switched-at-freezable-sleep": 0, "caught-by-a-try": 0}
	s := ct.ParkedTask(SchedSwitchTask)
	if s == nil {
		return n
	}
	for _, r := range schedRuns(ct, s.TID) {
		switch {
		case r.caught != nil:
			n["caught-by-a-try"]++
		case len(r.hooks) == 1:
			switch r.hooks[0].HookPoint() {
			case wire.HookCondResched:
				n["switched-at-cond-resched"]++
			case wire.HookFreezable:
				n["switched-at-freezable-sleep"]++
			}
		}
	}
	return n
}

// checkSchedSwitch holds S to its switch point in each transition:
//   - The hook, run in S with its flag set, switches it: S is outside
//     every patched function, and checks itself, so nothing in
//     klp_check_and_switch_task() may refuse it. A second run of the hook
//     in S in the same run of the transition (its flag still set: the
//     hook records only then, and only a new run sets it again) says the
//     first did not switch it.
//   - S does not stay pending past schedSwitchBound with the hook never
//     run in it: it spins into cond_resched() every few milliseconds and
//     into a freezable sleep every few dozen.
//
// A transition in which another task's try switched S first (it caught S
// asleep or preempted) is not judged; none judged is could-not-test.
func checkSchedSwitch(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
	var out []rule.Violation
	if ct.Skipped() != "" {
		return nil
	}
	expectOrder(ct, &out, wire.OpPark+":"+SchedSwitchTask, wire.OpEnable, wire.OpComplete, wire.OpDisable, wire.OpComplete, wire.OpRelease+":"+SchedSwitchTask)
	s := findParked(ct, SchedSwitchTask, &out)
	if s == nil {
		return out
	}
	task := fmt.Sprintf("%s[%d]", SchedSwitchTask, s.TID)
	if !s.Alive || s.Err != "" || s.Spins == 0 {
		out = append(out, rule.Violation{Rule: rule.Steps, Task: task, Msg: fmt.Sprintf("the spinning kthread did not run as scripted (alive %v, %d spins, %q)", s.Alive, s.Spins, s.Err)})
	}
	// The switch point's own place switches S at its first pass there
	// with the flag set, in each transition; so one of the two counts
	// stays at about one a transition (a pass may come between the flags'
	// setting and the hook's enabling, at the end of
	// klp_start_transition()). A kernel whose hook never runs leaves S
	// pending through hundreds of both, until a try catches it asleep.
	transitions := int64(len(ct.OpsOf(wire.OpEnable)) + len(ct.OpsOf(wire.OpDisable)))
	if bound := schedPassesPerTransition * transitions; min(s.PendingResched, s.PendingFreeze) > bound {
		out = append(out, rule.Violation{Rule: rule.SchedSwitch, Task: task, Msg: fmt.Sprintf(
			"it went into cond_resched() %d times and into a freezable sleep %d times with TIF_PATCH_PENDING set, in %d transitions: no switch point switched it at its first pass (at most %d of one of them)",
			s.PendingResched, s.PendingFreeze, transitions, bound)})
	}
	judged := 0
	for _, r := range schedRuns(ct, s.TID) {
		if len(r.hooks) >= 2 {
			h := r.hooks[0]
			check := "the probe saw no klp_check_and_switch_task() of its own"
			if r.selfRet != nil {
				check = fmt.Sprintf("its own klp_check_and_switch_task() returned %d", *r.selfRet)
			}
			out = append(out, rule.Violation{Rule: rule.SchedSwitch, Task: task, T: h.T, Msg: fmt.Sprintf(
				"the scheduler's switch point ran in it at %s with TIF_PATCH_PENDING set (state %d, goal %d), outside every patched function, and did not switch it (%s): it ran there %d times in the transition's run",
				h.HookPoint(), h.State, r.op.Goal, check, len(r.hooks))})
			continue
		}
		last := r.pendingAt
		if r.caught != nil {
			last = r.caught.T
		}
		if len(r.hooks) == 0 && last-r.op.T1 > int64(schedSwitchBound) {
			out = append(out, rule.Violation{Rule: rule.SchedSwitch, Task: task, T: last, Msg: fmt.Sprintf(
				"pending %.1fs into the transition to %d with the scheduler's switch point never run in it, though it calls cond_resched() every few milliseconds and sleeps TASK_FREEZABLE every few dozen",
				float64(last-r.op.T1)/1e9, r.op.Goal)})
			continue
		}
		if r.caught == nil && len(r.hooks) == 1 {
			judged++
		}
	}
	if judged == 0 && ct.End != nil {
		out = append(out, rule.Violation{Rule: rule.Coverage, Task: task, Msg: "in no transition did the scheduler's switch point switch the spinning kthread before another task's try did (or the probe recorded no run of it): the switch point was not tested"})
	}
	return out
}
