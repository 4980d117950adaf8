package cases

import (
	"fmt"
	"regexp"

	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// Exits during transitions. A thread that exits is reaped at once, by
// itself: release_task() takes it off the task list (__unhash_process())
// and then calls proc_flush_pid(), which every livepatch of klptest's
// replaces. From there to its last __schedule() the thread runs kernel
// code, but no loop of transition.c over the tasks sees it any more:
// klp_init_transition() does not give it the transition's state,
// klp_reverse_transition() does not flip it, klp_complete_transition()
// does not reset it, and it never holds a transition open. What it runs
// is the version its frozen state picks, and the code of a patch that a
// replace or a disable takes away meanwhile, until it is done with it.
//
// The case's storm (the agent's exitsStorm) runs lanes of threads named
// ExitComm that exit at once, thousands of them, while rounds of
// transitions go by: klpt_patch enabled, replaced atomically by
// klpt_patch2 and removed at once, klpt_patch2 disabled and removed. In
// those threads the livepatches' proc_flush_pid() sleeps for
// ExitSleepMillis (the thread's name says how long), called from the patch's own text, recorded by the
// probe (wire.ExitCall): dozens of exiting threads are in a patch's code at
// any moment, and when a replace or a disable completes, the threads that
// entered the patch's code before its start are still there, to return
// into it after the agent removed its module. ftrace's unregistering of
// the patch's ops must wait for them: exiting tasks are RCU Tasks
// holdouts until exit_rcu(), and a livepatch's ops are dynamic ones, whose
// removal waits for RCU Tasks. A kernel that does not wait frees code
// that a thread still runs, and it faults.
//
// The enable and the disable are held open for ExitHoldMillis by a task
// parked uninterruptibly in klpt_park_func(), so that threads exit inside
// them, at both states (a new thread copies its parent's; a thread already
// exiting when the transition starts keeps the initial state, as it never
// returns to user space). The replace is not held: it completes at its
// first try or its retry a second later, within the sleeps of the threads
// that entered the replaced patch's code before it began. A kernel whose
// transitions miss exiting threads still on the list leaves them with no
// state inside a transition, and klp_ftrace_handler() warns
// (WARN_ON_ONCE(patch_state == KLP_TRANSITION_IDLE)). The fault and the
// warning are this case's findings, named as such (rule.ExitPath).
//
// What the records are held to (exitPathCheck), from patch.c and
// transition.c:
//   - outside transitions, the applied patch's version: nothing reads a
//     task's state then, and the function stack has one patch on top;
//   - inside a transition, once its start returned (the states are set),
//     a thread at the goal state runs the goal's version: so it does while
//     the functions are marked as in transition, and completion keeps it
//     so (an enable unmarks them with the patch on top; a disable takes the
//     patch off the stack before it unmarks them);
//   - a thread at the initial state runs the initial version, or the
//     goal's once completion began: it is off the list, and completion
//     does not wait for it.
//
// The edges of each transition (its start's action, the read that saw it
// complete) hold no record to the first. Whether a transition was open at
// a call is the probe's to say (klp_transition_patch), not the ops': the
// kernel may complete one inside the action that started it.
const (
	// ExitComm is the name the storm's threads give themselves:
	// klpt_uapi.h's KLPT_EXIT_COMM, to which TestUAPI holds it.
	ExitComm = "klpt-exit"
	// ExitRounds: rounds of enable, replace and disable (three
	// transitions each).
	ExitRounds = 3
	// ExitHoldMillis: how long the parked task holds an enable or a
	// disable open: longer than the exits case's threads' sleep.
	ExitHoldMillis = 1500
	// ExitSleepMillis: how long the exits case's threads sleep in
	// proc_flush_pid(): over a transition's first try, short of its retry.
	ExitSleepMillis = 1000
	// ExitUnloadAfterMillis: how long the exits case waits after a
	// replace completed before it removes the replaced patch's module:
	// three times a thread's sleep, so that the threads still in its code
	// (see ExitUnloadFinding) have left it.
	ExitUnloadAfterMillis = 3 * ExitSleepMillis
	// ExitUnloadSleepMillis: exits-unload's threads sleep longer than a
	// replace takes to complete, at its first try or its retry a second
	// later, and its module to go.
	ExitUnloadSleepMillis = 5000
)

// The kernel log lines that are the case's findings: a fault (a thread
// ran code that was freed under it), and klp_ftrace_handler()'s warning
// of a task with no state inside a transition.
var (
	exitFaultLog = regexp.MustCompile(`BUG: unable to handle|Unable to handle kernel|general protection fault|^Oops|^Internal error: Oops|kernel BUG at|BUG: KASAN`)
	exitIdleLog  = regexp.MustCompile(`klp_ftrace_handler`)
)

func init() {
	register(exitsCase("exits", fmt.Sprintf("threads exit by the thousand while %d rounds of enable, atomic replace and disable go by; a thread off the task list runs the version its frozen state picks, and each patch's module is removed once the threads in its code are done", ExitRounds), ExitSleepMillis, ExitUnloadAfterMillis, ""))
	register(exitsCase("exits-unload", "as exits, but the replaced patch's module is removed as soon as the kernel lets it go, while exiting threads off the task list still sleep in its code", ExitUnloadSleepMillis, 0, ExitUnloadFinding))
}

// ExitIdleFinding is the other bug the exits storm runs into: a thread
// that left the task list before klp_init_transition() keeps no state
// (KLP_TRANSITION_IDLE), and when it then calls a function in transition,
// klp_ftrace_handler() warns (WARN_ON_ONCE(patch_state ==
// KLP_TRANSITION_IDLE)) and runs the new version, switched by nobody. The
// window, from __unhash_process() to the call, is microseconds; under the
// storm it was hit in 1 of 20 runs on arm64 (docs/findings.md). exits
// pauses the storm around each start so that its verdict is about the rest;
// exits-unload lets it run through, and names this too.
const ExitIdleFinding = "an exiting thread with no state in a transition"

// ExitUnloadFinding is what exits-unload finds: transition.c's loops skip
// a thread that left the task list, so an atomic replace completes while
// such a thread still runs the replaced patch's function; the replaced
// patch shares its ftrace ops with the new one (the same old function),
// so no RCU Tasks wait comes with its removal from them, and the kernel
// lets its module go. Measured on every kernel klptest boots
// (docs/findings.md); the 2025 report "Kernel Crash during replacement of
// livepatch patching do_exit()" on live-patching is the same hole.
const ExitUnloadFinding = "a replaced patch's module freed under exiting threads"

// exitsCase is the exits script: the storm's threads sleep sleepMillis in
// proc_flush_pid(), and the replaced patch's module is removed
// unloadAfterMillis after the replace completed.
func exitsCase(name, doc string, sleepMillis, unloadAfterMillis int, known string) Case {
	// exits stops the storm around each transition's start (see
	// ExitIdleFinding); exits-unload does not.
	starting := func(start Step) []Step {
		if known != "" {
			return []Step{start}
		}
		return []Step{{Do: DoStormPause}, start, {Do: DoStormResume}}
	}
	held := func(start Step) []Step {
		return seq([]Step{{Do: DoPark, Park: "A", Mode: ParkUninterruptible}}, starting(start), []Step{
			{Do: DoWaitStall},
			{Do: DoPause, Millis: ExitHoldMillis},
			{Do: DoRelease, Park: "A"}, {Do: DoWait},
		})
	}
	replace := append(starting(Step{Do: DoEnable, Patch: "klpt_patch2"}), Step{Do: DoWait})
	if unloadAfterMillis > 0 {
		replace = append(replace, Step{Do: DoPause, Millis: unloadAfterMillis})
	}
	replace = append(replace, Step{Do: DoUnload, Patch: "klpt_patch"}, Step{Do: DoSettle})
	round := seq(
		held(Step{Do: DoEnable}), []Step{{Do: DoSettle}},
		// Not held: it completes within the sleeps of the threads that
		// entered the replaced patch's code before it began.
		replace,
		held(Step{Do: DoDisable, Patch: "klpt_patch2"}),
		[]Step{{Do: DoUnload, Patch: "klpt_patch2"}},
	)
	return Case{
		Name:  name,
		Doc:   doc,
		Known: known,
		// The finding kills the VM: no other case may share its boot.
		OwnBoot: known != "",
		Steps: []Step{
			{Do: DoSettle},
			{Do: DoStormStart, Exits: true, Millis: sleepMillis},
			{Do: DoRepeat, Repeat: round, Rounds: ExitRounds},
			{Do: DoStormWait},
			{Do: DoSettle},
		},
		Counts: exitCounts,
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			found := exitFindings(tr, ct)
			out = append(out, found...)
			if ct.End == nil {
				// The VM died in the case: what it saw is cut short,
				// and the finding, if any, says why.
				if len(found) == 0 && known != "" {
					out = append(out, rule.Violation{Rule: rule.Coverage, Msg: "could not test: the VM ended without a fault or a warning of the finding's"})
				}
				return out
			}
			expectOrder(ct, &out, wire.OpRepeat, wire.OpStorm) // the storm's op ends after the rounds
			out = append(out, exitPathCheck(ct)...)
			n := exitCounts(ct)
			if ct.ExitsDropped > 0 {
				out = append(out, rule.Violation{Rule: rule.Trace, Msg: fmt.Sprintf("the probe dropped %d exit-path records: the exit-path check is incomplete", ct.ExitsDropped)})
			}
			switch {
			case len(ct.Exits) == 0:
				out = append(out, rule.Violation{Rule: rule.Coverage, Msg: "could not test: no exiting thread ran a livepatch's proc_flush_pid() (no /proc/klpt_exits, or no exit reached it)"})
			case n["in-transition"] == 0:
				out = append(out, rule.Violation{Rule: rule.Coverage, Msg: "could not test: no exiting thread ran a livepatch's proc_flush_pid() inside a transition"})
			// Threads in a patch's code when it is taken away are what
			// exits-unload exists for; exits only counts them: on
			// debian:6.12 the kernel's own paths often wait them out
			// (docs/findings.md).
			case known != "" && n["outlived-its-patch"] == 0:
				out = append(out, rule.Violation{Rule: rule.Coverage, Msg: "could not test: no exiting thread was inside a patch's proc_flush_pid() when a replace or a disable took that patch away"})
			case known != "" && len(found) == 0 && n["in-removed-code"] == 0:
				out = append(out, rule.Violation{Rule: rule.Coverage, Msg: "could not test: no exiting thread was in the replaced patch's code when its module's removal began"})
			}
			return out
		},
	}
}

// exitWindow is one transition as the ops bracket it: from the end of the
// action that started it to the start of the read that saw it complete.
type exitWindow struct {
	start wire.Op
	end   *wire.Op
}

// exitStretches are the case's transitions, and the version of
// proc_flush_pid() applied before each and after the last: versions[i]
// holds from the end of transition i-1 to the start of transition i.
func exitStretches(ct *wire.CaseTrace) (wins []exitWindow, versions []int) {
	key := table.Key(table.Vmlinux, table.FuncExit)
	versions = []int{wire.VersionOld}
	for _, o := range ct.Ops {
		switch o.Kind {
		case wire.OpEnable, wire.OpDisable:
			if o.Err != "" || o.InProgress {
				return wins, versions // the kernel refused it, or the guest died: nothing after is judged
			}
			wins = append(wins, exitWindow{start: o})
		case wire.OpComplete:
			if len(wins) == 0 || wins[len(wins)-1].end != nil {
				continue
			}
			w := &wins[len(wins)-1]
			o := o
			w.end = &o
			v0, v1 := w.start.VersionsOf(key)
			v := v0
			if w.start.Goal == wire.StatePatched {
				v = v1
			}
			versions = append(versions, v)
		case wire.OpReverse, wire.OpForce:
			return wins, versions // not in this case's script
		}
	}
	return wins, versions
}

// exitPlace says where a record's call falls: in transition i (firmly:
// after its start returned, before the read that saw it complete), in the
// stretch before transition i (or after the last), or at an edge.
func exitPlace(wins []exitWindow, t int64) (i int, inTransition, firm bool) {
	for i, w := range wins {
		if t <= w.start.T0 {
			prevEnd := int64(-1 << 63)
			if i > 0 {
				if wins[i-1].end == nil {
					return i, false, false
				}
				prevEnd = wins[i-1].end.T1
			}
			return i, false, t > prevEnd
		}
		if w.end == nil || t < w.end.T1 {
			if t <= w.start.T1 || w.end == nil || t >= w.end.T0 {
				return i, true, w.end == nil && t > w.start.T1
			}
			return i, true, true
		}
	}
	n := len(wins)
	return n, false, n == 0 || wins[n-1].end != nil
}

func exitPathCheck(ct *wire.CaseTrace) []rule.Violation {
	var out []rule.Violation
	key := table.Key(table.Vmlinux, table.FuncExit)
	wins, versions := exitStretches(ct)
	bad := 0
	for _, e := range ct.Exits {
		i, inTr, firm := exitPlace(wins, e.T0)
		task := fmt.Sprintf("exiting thread [%d]", e.PID)
		var msg string
		switch {
		case !inTr && firm && e.Open != 1:
			if i < len(versions) && e.Version != versions[i] {
				msg = fmt.Sprintf("off the task list, it ran the %s proc_flush_pid() between transitions, while the %s one is applied",
					versionWord(e.Version), versionWord(versions[i]))
			}
		case inTr && e.T0 > wins[i].start.T1 && (e.State == wire.StateUnpatched || e.State == wire.StatePatched):
			w := wins[i]
			goal := w.start.Goal
			v0, v1 := w.start.VersionsOf(key)
			vGoal, vInit := v1, v0
			if goal == wire.StateUnpatched {
				vGoal, vInit = v0, v1
			}
			switch {
			case e.State == goal && e.Version != vGoal:
				msg = fmt.Sprintf("off the task list at the goal state %d, it ran the %s proc_flush_pid() in the transition to %d, not the goal's %s one",
					e.State, versionWord(e.Version), goal, versionWord(vGoal))
			case e.State != goal && e.Version != vInit && e.Version != vGoal:
				msg = fmt.Sprintf("off the task list at the initial state %d, it ran the %s proc_flush_pid() in the transition to %d: neither the initial %s one nor the goal's %s one",
					e.State, versionWord(e.Version), goal, versionWord(vInit), versionWord(vGoal))
			}
		}
		if msg != "" {
			bad++
			if bad <= 5 {
				out = append(out, rule.Violation{Rule: rule.ExitPath, Task: task, T: e.T0, Msg: msg})
			}
		}
	}
	if bad > 5 {
		out = append(out, rule.Violation{Rule: rule.ExitPath, Msg: fmt.Sprintf("%d more exit-path calls ran a version their state does not pick", bad-5)})
	}
	return out
}

// exitFindings names what the case's kernel log shows (the kernel-log rule
// reports the lines too): a fault, where exiting threads ran patches'
// code that replaces took away; klp_ftrace_handler()'s warning, where
// threads ran a patched function in a transition with no state.
func exitFindings(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
	n := exitCounts(ct)
	for _, l := range tr.Kmsg {
		if l.Case != ct.Name {
			continue
		}
		switch {
		case exitFaultLog.MatchString(l.Msg):
			return []rule.Violation{{Rule: rule.ExitPath, Msg: fmt.Sprintf(
				"%s: the kernel faulted while exiting threads off the task list ran a replaced patch's proc_flush_pid(), its module removed under them: %q", ExitUnloadFinding, l.Msg)}}
		case exitIdleLog.MatchString(l.Msg) && n["no-state"] > 0:
			return []rule.Violation{{Rule: rule.ExitPath, Msg: fmt.Sprintf(
				"%s: klp_ftrace_handler() warned, and %d exiting threads ran a patched function inside a transition with no patch state: klp_init_transition() missed them: %q", ExitIdleFinding, n["no-state"], l.Msg)}}
		}
	}
	return nil
}

// exitCounts: the exit-path calls; how many came while a transition was
// open (the probe's reading), by the thread's state; and those whose
// patch was replaced or disabled while they ran its code.
func exitCounts(ct *wire.CaseTrace) map[string]int {
	wins, _ := exitStretches(ct)
	n := map[string]int{"exit-calls": len(ct.Exits)}
	var unloads []wire.Op
	for _, o := range ct.OpsOf(wire.OpUnload) {
		if o.Patch == table.DefaultLivepatch && o.Err == "" {
			unloads = append(unloads, o)
		}
	}
	replaced, _ := table.Patch(table.DefaultLivepatch)
	for _, e := range ct.Exits {
		if e.Outlived() {
			n["outlived-its-patch"]++
		}
		for _, u := range unloads {
			if e.Version == replaced.Version && e.T0 < u.T0 && e.T1 > u.T0 {
				n["in-removed-code"]++
				break
			}
		}
		if e.Open != 1 {
			continue
		}
		n["in-transition"]++
		i, inTr, _ := exitPlace(wins, e.T0)
		switch {
		case e.State == wire.StateUndefined:
			n["no-state"]++
		case inTr && e.State == wins[i].start.Goal:
			n["at-goal"]++
		case inTr:
			n["at-initial"]++
		}
	}
	return n
}
