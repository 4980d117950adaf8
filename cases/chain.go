package cases

import (
	"fmt"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// The chain case puts tasks inside call chains of patched functions while
// transitions start, retry, reverse and complete: chain workers spinning
// on their CPUs in klpt_chain_outer() before calling klpt_chain_inner()
// (more of them than vCPUs, so some run and some wait, preempted or not),
// a chain that crosses from klpt_target2 into klpt_target, and a task
// asleep in klpt_chain_inner() with the outer function below it. The
// shared chain-consistency rule (package check) judges every chain; the
// case's own check says whether the chains were there to judge.
func init() {
	register(Case{
		Name: "chain",
		Doc:  "chain workers inside outer->inner chains of patched functions (one crossing modules) and a task asleep in the inner one, through a held, reversed, then a completed patch and an unpatch; no chain may mix versions",
		Steps: []Step{
			{Do: DoWorkers, Chain: true, Module: "klpt_target"},
			{Do: DoLoad, Module: "klpt_target2"},
			{Do: DoWorkers, Chain: true, Cross: true, Module: "klpt_target2"},
			{Do: DoSettle},
			// Uninterruptible: the holds must outlast the retries and the
			// fake signal. A sleeps in the inner function, the outer one
			// below it; B in the outer one, and calls the inner one once
			// released: a task switched while it slept would wake into
			// the other set.
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible, Chain: true},
			{Do: DoPark, Park: "B", Mode: ParkUninterruptible, Chain: true, Outer: true},
			{Do: DoEnable}, {Do: DoWaitStall},
			// Released while the transition is held, B wakes into the
			// rest of its chain: still the old set, as it has not
			// switched; a B switched while it slept would run the new
			// inner function below its old outer one.
			{Do: DoRelease, Park: "B"},
			{Do: DoReverse}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoRelease, Park: "A"},
			{Do: DoUnload},
			{Do: DoEnable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoDisable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoUnload},
		},
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpPark+":B", wire.OpEnable, wire.OpStall, wire.OpRelease+":B", wire.OpReverse, wire.OpComplete,
				wire.OpRelease+":A", wire.OpUnload, wire.OpEnable, wire.OpComplete, wire.OpDisable, wire.OpComplete, wire.OpUnload)
			// Asleep in the old chain, A and B cannot switch (A until the
			// flip puts it at the goal). Each returns from the old inner
			// function: B calls it once released, not switched yet.
			for _, name := range []string{"A", "B"} {
				p := heldAsleep(ct, name, wire.OpEnable, wire.StatePatched, &out)
				expectParked(p, wire.VersionOld, false, &out)
				if p != nil && len(p.Chain) != 2 {
					out = append(out, rule.Violation{Rule: rule.Coverage, Task: fmt.Sprintf("%s[%d]", name, p.TID), T: p.T1,
						Msg: fmt.Sprintf("%s was to sleep in the chain and run both its functions; its call reported the chain %v", name, p.Chain)})
				}
			}
			out = append(out, chainCoverage(ct)...)
			return out
		},
	})
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
