package cases

import (
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// stacked-held: the stack check's other branch. klp_check_stack_func(), on
// a patching transition, looks for the function a task would leave: the
// original while the func_stack holds one entry, else the previous patch's
// new function (list_next_entry on the func_stack). Every other case parks
// tasks in the original or in the top patch's function; here A sleeps in
// klpt_patch's, with a later patch transitioning on top of it, once stacked
// (klpt_patch3) and once replacing it (klpt_patch2). A may not switch while
// it sleeps there; each transition stalls on it, and is then reversed, which
// completes with A asleep (A is at the reversed goal already) and, for the
// replace, leaves the replaced patch applied.
func init() {
	register(Case{
		Name: "stacked-held",
		Doc:  "A asleep in an earlier patch's function holds a stacked patch's transition and a replace's (the previous-func stack check); each reversed",
		Steps: seq(patchSteps, []Step{
			// Uninterruptible: two holds outlast 15 retries, and the fake
			// signal must not end them.
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible}, // in klpt_patch's function
			{Do: DoEnable, Patch: "klpt_patch3"}, {Do: DoWaitStall},
			{Do: DoReverse}, {Do: DoWait},
			{Do: DoUnload, Patch: "klpt_patch3"},
			{Do: DoEnable, Patch: "klpt_patch2"}, {Do: DoWaitStall},
			{Do: DoReverse}, {Do: DoWait},
			{Do: DoSysfs, Patch: "klpt_patch2"}, // a reversed replace is freed; what it replaced is not
			{Do: DoUnload, Patch: "klpt_patch2"},
			{Do: DoRelease, Park: "A"},
		}, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpEnable, wire.OpComplete, wire.OpPark+":A",
				wire.OpEnable, wire.OpStall, wire.OpReverse, wire.OpComplete, wire.OpUnload,
				wire.OpEnable, wire.OpStall, wire.OpReverse, wire.OpComplete, wire.OpSysfs, wire.OpUnload,
				wire.OpRelease+":A", wire.OpDisable, wire.OpComplete)
			a := findParked(ct, "A", &out)
			// From the stacked patch's enable to the release, through both
			// held transitions and their reverses, A never reaches the
			// patched state: it sleeps in a function both would replace.
			from, ok1 := nth(ct, wire.OpEnable, 1)
			rel, ok2 := nth(ct, wire.OpRelease, 0)
			if ok1 && ok2 {
				expectNeverAt(ct, a, wire.StatePatched, from, rel, &out)
			}
			expectParked(a, patchVersion("klpt_patch"), false, &out)
			if s, ok := nth(ct, wire.OpSysfs, 0); ok {
				expectSysfs(s, map[string]int{"klpt_patch.enabled": 1, "klpt_patch.transition": 0, "klpt_patch.stack_order": 1}, []string{"klpt_patch2"}, &out)
			}
			return out
		},
	})
}
