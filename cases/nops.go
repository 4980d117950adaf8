package cases

import (
	"fmt"
	"math"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// nops: an atomic replace that leaves out functions the patch it replaces
// has. klp_add_nops() gives the replace a nop for each (klpt_patch4 leaves
// out klpt_target's parking function, klpt_target2's inner chain function,
// and all of klpt_target3, for which the kernel makes a dynamic object);
// during the transition the ftrace handler runs the original for a task at
// 1 and the replaced patch's function for one at 0, and
// klp_complete_transition() then drops the nops with the replaced patch, so
// that the original runs without ftrace. The stack check of a nop looks for
// the replaced patch's function (klp_check_stack_func() takes the previous
// func on the stack), so A, asleep in klpt_patch's parking function, holds
// the replace, reversed once and completed after. The shared rules judge
// every call and chain against each function's own versions (the agent's
// ops carry them, package kmod/funcstack): a chain from a kept outer
// function into a nop'd inner one, and one from a nop'd outer function into
// a kept one, run the new set at 1, which is two versions. klpt_patch3
// stacked on the replace then starts from the original where the replace
// left the original.
func init() {
	register(Case{
		Name: "nops",
		Doc:  "an atomic replace that leaves functions out (nops): calls and chains at 1 run the original there, at 0 the replaced patch's; A asleep in a replaced function the nop covers holds it, reversed then completed; a stacked patch and the unpatch after",
		Steps: seq([]Step{
			{Do: DoLoad, Module: "klpt_target2"}, {Do: DoLoad, Module: "klpt_target3"},
			{Do: DoWorkers, Module: "klpt_target3"},                           // every function of its object nop'd
			{Do: DoWorkers, Chain: true, Module: "klpt_target2"},              // kept outer, nop'd inner
			{Do: DoWorkers, Chain: true, Cross: true, Module: "klpt_target3"}, // nop'd outer, kept inner
		}, patchSteps, []Step{
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible}, // in klpt_patch's parking function
			{Do: DoEnable, Patch: "klpt_patch4"}, {Do: DoWaitStall},
			{Do: DoReverse}, {Do: DoWait}, {Do: DoSettle}, // the nops go; klpt_patch stays
			{Do: DoUnload, Patch: "klpt_patch4"},
			{Do: DoEnable, Patch: "klpt_patch4"}, {Do: DoWaitStall},
			{Do: DoRelease, Park: "A"},
			{Do: DoWait}, {Do: DoSettle},
			{Do: DoSysfs, Patch: "klpt_patch"}, // replaced: its directory goes
			{Do: DoUnload, Patch: "klpt_patch"},
			{Do: DoEnable, Patch: "klpt_patch3"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoDisable, Patch: "klpt_patch3"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoDisable, Patch: "klpt_patch4"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoUnload, Patch: "klpt_patch3"}, {Do: DoUnload, Patch: "klpt_patch4"},
		}),
		Counts: nopsCounts,
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpEnable, wire.OpComplete, wire.OpPark+":A",
				wire.OpEnable, wire.OpStall, wire.OpReverse, wire.OpComplete, wire.OpUnload,
				wire.OpEnable, wire.OpStall, wire.OpRelease+":A", wire.OpComplete, wire.OpSysfs, wire.OpUnload,
				wire.OpEnable, wire.OpComplete, wire.OpDisable, wire.OpComplete, wire.OpDisable, wire.OpComplete)
			a := findParked(ct, "A", &out)
			from, ok1 := nth(ct, wire.OpEnable, 1)
			rel := opAt(ct, wire.OpRelease, "A")
			if ok1 && rel != nil {
				expectNeverAt(ct, a, wire.StatePatched, from, *rel, &out)
			}
			// Released at 0, it returns from the replaced patch's function.
			expectParked(a, patchVersion("klpt_patch"), false, &out)
			if s, ok := nth(ct, wire.OpSysfs, 0); ok {
				expectSysfs(s, map[string]int{"klpt_patch4.enabled": 1, "klpt_patch4.transition": 0, "klpt_patch4.stack_order": 1, "klpt_patch4.replace": 1}, []string{"klpt_patch"}, &out)
			}
			if done, ok := nth(ct, wire.OpComplete, 2); ok {
				expectNoCalls(ct, patchVersion("klpt_patch"), done.T1, math.MaxInt64, &out)
			}
			// The shared rules judge each call and chain; here, make
			// sure the nops were there to judge: calls and chains that
			// ran through them at 1, where a nop runs the original. At 0
			// a nop'd function runs the replaced patch's, the path of
			// any stacked patch: counted, not required.
			n := nopsCounts(ct)
			for _, k := range []string{"nop-calls-at-1", "nop-chains-at-1"} {
				if n[k] == 0 {
					out = append(out, rule.Violation{Rule: rule.Coverage, Msg: fmt.Sprintf(
						"could not test: %s is 0 in klpt_patch4's transitions", k)})
				}
			}
			return out
		},
	})
}

// nopsCounts counts, over klpt_patch4's enables, the calls and chains that
// ran through its nops: at state 1 (the original), at 0 (the replaced
// patch's), and the chains whose new set mixes versions.
func nopsCounts(ct *wire.CaseTrace) map[string]int {
	n := map[string]int{"nop-calls-at-1": 0, "nop-calls-at-0": 0, "nop-chains-at-1": 0, "nop-chains-at-0": 0}
	var spans [][2]int64
	for i, o := range ct.Ops {
		if o.Kind != wire.OpEnable || o.Patch != "klpt_patch4" {
			continue
		}
		end := int64(math.MaxInt64)
		for _, c := range ct.Ops[i+1:] {
			if c.Kind == wire.OpComplete || c.Kind == wire.OpTimeout {
				end = c.T0
				break
			}
		}
		spans = append(spans, [2]int64{o.T1, end})
	}
	in := func(t0, t1 int64) bool {
		for _, s := range spans {
			if t0 > s[0] && t1 < s[1] {
				return true
			}
		}
		return false
	}
	state := func(before, after int) string {
		if before != after || before == wire.StateUndefined {
			return ""
		}
		return fmt.Sprint(before)
	}
	for _, g := range ct.Calls {
		if g.Target == "klpt_target3" && in(g.T0, g.T1) {
			if s := state(g.Before, g.After); s != "" {
				n["nop-calls-at-"+s] += g.N
			}
		}
	}
	for _, g := range ct.Chains {
		if (g.Target == "klpt_target2" || g.Target == "klpt_target3") && in(g.T0, g.T1) {
			if s := state(g.Before, g.After); s != "" {
				n["nop-chains-at-"+s] += g.N
			}
		}
	}
	return n
}
