package cases

import (
	"fmt"
	"strings"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// The chain case puts tasks inside call chains of patched functions while
// transitions start, retry, reverse and complete, and has the kernel try
// to switch each kind of them in every phase: chain workers spinning on
// their CPUs in klpt_chain_outer() before calling klpt_chain_inner() (more
// of them than vCPUs), a chain that crosses from klpt_target2 into
// klpt_target, and in every phase parked tasks off the phase's goal (see
// chainSteps): one asleep in the chain, two spinning in it, one pinned to
// each vCPU, so that the kernel's retries find one running on the other
// CPU and one preempted; and L, looping on the chain throughout, for the
// running-task guard. The kernel is made fully preemptible for the
// case where it can be at run time. The shared chain-consistency and
// unsafe-switch rules (package check) judge every chain and every
// attempt; the case's own check says whether each kind of chain task was
// there to judge, phase by phase.
func init() {
	register(Case{
		Name:   "chain",
		Doc:    "tasks on a CPU, preempted and asleep inside outer->inner chains of patched functions (one crossing modules) through a held, reversed, then a completed patch and an unpatch, each kind tried by the kernel in every phase; no chain may mix versions, no task in one be switched",
		Steps:  chainSteps(),
		Counts: chainCounts,
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPreempt, wire.OpPark+":A", wire.OpPark+":B", wire.OpEnable, wire.OpStall, wire.OpRelease+":B",
				wire.OpPark+":E", wire.OpReverse, wire.OpStall, wire.OpRelease+":E", wire.OpComplete, wire.OpRelease+":A", wire.OpUnload,
				wire.OpPark+":C", wire.OpEnable, wire.OpStall, wire.OpRelease+":C", wire.OpComplete,
				wire.OpPark+":D", wire.OpDisable, wire.OpStall, wire.OpRelease+":D", wire.OpComplete, wire.OpUnload)
			// Each parked task, asleep or spinning in its chain, cannot
			// switch until released (A, S1 and T1 until the reverse puts
			// them at the goal), and returns from the set of the state
			// it parked at.
			for _, h := range []struct {
				name    string
				from    string // the op whose transition it holds, and
				nth     int    // which of them
				never   int    // the state it must not reach asleep
				version int    // the set its chain returns from
			}{
				{"A", wire.OpEnable, 0, wire.StatePatched, wire.VersionOld},
				{"B", wire.OpEnable, 0, wire.StatePatched, wire.VersionOld},
				{"S1", wire.OpEnable, 0, wire.StatePatched, wire.VersionOld},
				{"T1", wire.OpEnable, 0, wire.StatePatched, wire.VersionOld},
				{"E", wire.OpReverse, 0, wire.StateUnpatched, wire.VersionNew},
				{"S2", wire.OpReverse, 0, wire.StateUnpatched, wire.VersionNew},
				{"T2", wire.OpReverse, 0, wire.StateUnpatched, wire.VersionNew},
				{"C", wire.OpEnable, 1, wire.StatePatched, wire.VersionOld},
				{"S3", wire.OpEnable, 1, wire.StatePatched, wire.VersionOld},
				{"T3", wire.OpEnable, 1, wire.StatePatched, wire.VersionOld},
				{"D", wire.OpDisable, 0, wire.StateUnpatched, wire.VersionNew},
				{"S4", wire.OpDisable, 0, wire.StateUnpatched, wire.VersionNew},
				{"T4", wire.OpDisable, 0, wire.StateUnpatched, wire.VersionNew},
			} {
				p := findParked(ct, h.name, &out)
				if from, ok := nth(ct, h.from, h.nth); ok {
					for _, o := range ct.OpsOf(wire.OpRelease) {
						if o.Park == h.name {
							expectNeverAt(ct, p, h.never, from, o, &out)
							break
						}
					}
				}
				expectParked(p, h.version, false, &out)
				if p != nil && len(p.Chain) != 2 {
					out = append(out, rule.Violation{Rule: rule.Coverage, Task: fmt.Sprintf("%s[%d]", h.name, p.TID), T: p.T1,
						Msg: fmt.Sprintf("%s was to sleep in the chain and run both its functions; its call reported the chain %v", h.name, p.Chain)})
				}
			}
			out = append(out, chainCoverage(ct)...)
			out = append(out, chainPresence(ct)...)
			return out
		},
	})
}

// chainSteps are the chain case's steps. Each transition phase has its own
// parked tasks, parked off the phase's goal: one asleep in the chain, and
// two spinning in the outer function on their CPUs (Sn pinned to CPU 0,
// Tn to CPU 1): whichever CPU the kernel's retry runs on, the spinner
// there is preempted by it, and the other one is most likely running.
// Tasks parked after a stall are forked from the agent, switched by then,
// so that they sit in the new chain when the reverse (or the disable)
// comes.
func chainSteps() []Step {
	spin := func(name string, cpu int) Step {
		return Step{Do: DoPark, Park: name, Mode: ParkSpin, Chain: true, Outer: true, Pinned: true, CPU: cpu}
	}
	sleep := func(name string) Step {
		// Uninterruptible: the holds must outlast the retries and the
		// fake signal.
		return Step{Do: DoPark, Park: name, Mode: ParkUninterruptible, Chain: true}
	}
	release := func(names ...string) []Step {
		var out []Step
		for _, n := range names {
			out = append(out, Step{Do: DoRelease, Park: n})
		}
		return out
	}
	var st []Step
	add := func(s ...Step) { st = append(st, s...) }
	add(Step{Do: DoPreempt},
		Step{Do: DoWorkers, Chain: true, Module: "klpt_target"},
		Step{Do: DoLoad, Module: "klpt_target2"},
		Step{Do: DoWorkers, Chain: true, Cross: true, Module: "klpt_target2"},
		Step{Do: DoSettle})
	// L loops on the chain, pinned to CPU 1, from here to the end: each
	// of its calls enters the chain fresh after a sleep outside it, so
	// that the kernel's checks find it running a call its saved stack
	// may not show (only the refusal of a running task stands there), and
	// it switches between calls.
	add(Step{Do: DoPark, Park: "L", Mode: ParkUninterruptible, Chain: true, Loop: true, Pinned: true, CPU: 1})
	// A sleeps in the inner function, the outer one below it; B in the
	// outer one, and calls the inner one once released: a task switched
	// while it slept would wake into the other set.
	add(sleep("A"), Step{Do: DoPark, Park: "B", Mode: ParkUninterruptible, Chain: true, Outer: true}, spin("S1", 0), spin("T1", 1))
	add(Step{Do: DoEnable}, Step{Do: DoWaitStall}, Step{Do: DoWaitChainKinds})
	// Released while the transition is held, B wakes into the rest of
	// its chain: still the old set, as it has not switched; a B switched
	// while it slept would run the new inner function below its old
	// outer one.
	add(release("B")...)
	add(sleep("E"), spin("S2", 0), spin("T2", 1), Step{Do: DoReverse})
	// The reverse puts S1 and T1 at the goal: they go, so as not to take
	// the CPUs from S2 and T2.
	add(release("S1", "T1")...)
	add(Step{Do: DoWaitStall}, Step{Do: DoWaitChainKinds})
	add(release("E", "S2", "T2")...)
	add(Step{Do: DoWait}, Step{Do: DoSettle})
	add(release("A")...)
	add(Step{Do: DoUnload})
	add(sleep("C"), spin("S3", 0), spin("T3", 1), Step{Do: DoEnable}, Step{Do: DoWaitStall}, Step{Do: DoWaitChainKinds})
	add(release("C", "S3", "T3")...)
	add(Step{Do: DoWait}, Step{Do: DoSettle})
	add(sleep("D"), spin("S4", 0), spin("T4", 1), Step{Do: DoDisable}, Step{Do: DoWaitStall}, Step{Do: DoWaitChainKinds})
	add(release("D", "S4", "T4")...)
	add(Step{Do: DoWait}, Step{Do: DoSettle})
	add(release("L")...)
	add(Step{Do: DoUnload})
	return st
}

// chainCounts counts the kernel's attempts to switch a task inside a chain,
// by kind, and those it refused.
func chainCounts(ct *wire.CaseTrace) map[string]int {
	n := map[string]int{}
	for _, s := range ct.Switches {
		if k := s.Kind(); k != "" {
			n[k]++
		}
		if s.InChain() && s.Ret != 0 && s.Hook == "" {
			n["refused"]++
		}
	}
	return n
}

// chainPresence says where the case could not test: a transition phase in
// which the kernel never tried to switch a task of one of the kinds inside
// a chain (a task on another CPU, preempted, asleep). Preempted and long
// running tasks need a preemptible kernel: on one that is not, the case
// says it could not test them.
func chainPresence(ct *wire.CaseTrace) []rule.Violation {
	var out []rule.Violation
	model := ""
	if ops := ct.OpsOf(wire.OpPreempt); len(ops) > 0 {
		model = ops[0].Preempt
	}
	if !wire.Preemptible(model) {
		out = append(out, rule.Violation{Rule: rule.Coverage, Msg: fmt.Sprintf(
			"the kernel's preemption model is %q, not preemptible: no task could be preempted, nor held running, inside a chain", model)})
	}
	if len(ct.Switches) == 0 {
		out = append(out, rule.Violation{Rule: rule.Coverage, Msg: "no attempt to switch a chain task was recorded (the probe could not hook klp_check_and_switch_task() on this kernel?): the unsafe-switch rule had nothing to judge"})
		return out
	}
	phases, counts := wire.ChainPresence(ct.Ops, ct.Switches)
	for i, ph := range phases {
		var missing []string
		for _, k := range wire.ChainKinds {
			if counts[i][k] == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			out = append(out, rule.Violation{Rule: rule.Coverage, T: ph.T0, Msg: fmt.Sprintf(
				"phase %d (%s, goal %d): the kernel tried to switch chain tasks %s, and no %s one: that kind was not there to test",
				i+1, ph.Kind, ph.Goal, CountsString(counts[i]), strings.Join(missing, ", "))})
		}
	}
	return out
}

// chainCoverage says where the chain case could not test: a transition
// (start to completion) that no chain, local or crossing modules, ran
// through.
func chainCoverage(ct *wire.CaseTrace) []rule.Violation {
	var out []rule.Violation
	var start *wire.Op
	n := 0
	for i := range ct.Ops {
		o := ct.Ops[i]
		switch {
		case o.InProgress:
		case o.Kind == wire.OpEnable || o.Kind == wire.OpDisable:
			start = &ct.Ops[i]
		case o.Kind == wire.OpComplete && start != nil:
			n++
			var local, cross int
			for _, g := range ct.Chains {
				if g.T0 < o.T1 && g.T1 > start.T0 {
					if g.Cross {
						cross += g.N
					} else {
						local += g.N
					}
				}
			}
			if local == 0 || cross == 0 {
				out = append(out, rule.Violation{Rule: rule.Coverage, T: start.T0, Msg: fmt.Sprintf(
					"transition %d (%s, goal %d) ran with %d chain calls in klpt_target and %d crossing from klpt_target2: the chains were not there to test",
					n, start.Kind, start.Goal, local, cross)})
			}
			start = nil
		}
	}
	if n == 0 {
		out = append(out, rule.Violation{Rule: rule.Coverage, Msg: "no transition completed: the chains could not be tested through one"})
	}
	return out
}
