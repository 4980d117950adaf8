package cases

import (
	"math"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// replace-force: klp_force_transition() on an atomic replace. Forcing a
// patching transition marks no patch of its own forced, but a replace's
// forces every patch it replaces (transition.c: "Set forced flag for
// patches being removed"): a task forced off such a patch may still run its
// code, so their modules must stay in for good, while the replacing patch,
// not forced, can later be disabled and removed.
func init() {
	register(Case{
		Name:    "replace-force",
		Doc:     "A asleep in patch A's function holds B's atomic replace; force it: A's module can never be removed, B's can; no call reaches A's code after",
		OwnBoot: true, // the replaced patch's module stays in for good
		Steps: seq(patchSteps, []Step{
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible}, // in klpt_patch's function
			{Do: DoEnable, Patch: "klpt_patch2"}, {Do: DoWaitStall},
			{Do: DoForce}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoSysfs, Patch: "klpt_patch"}, // replaced: its directory goes, its module stays
			{Do: DoUnloadBusy, Patch: "klpt_patch"},
			{Do: DoRelease, Park: "A"},
			{Do: DoDisable, Patch: "klpt_patch2"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoUnload, Patch: "klpt_patch2"},
		}),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpEnable, wire.OpComplete, wire.OpPark+":A", wire.OpEnable, wire.OpStall,
				wire.OpForce, wire.OpComplete, wire.OpSysfs, wire.OpBusy, wire.OpRelease+":A", wire.OpDisable, wire.OpComplete, wire.OpUnload)
			// Forced to the goal while asleep in the replaced patch's
			// function, it wakes there: what force's documentation warns
			// of, and why that module must stay.
			expectParked(findParked(ct, "A", &out), patchVersion("klpt_patch"), false, &out)
			if s, ok := nth(ct, wire.OpSysfs, 0); ok {
				expectSysfs(s, map[string]int{"klpt_patch2.enabled": 1, "klpt_patch2.transition": 0, "klpt_patch2.stack_order": 1, "klpt_patch2.replace": 1}, []string{"klpt_patch"}, &out)
			}
			// Once the forced replace completed, every task runs B: no
			// worker's call reaches A's functions again.
			if done, ok := nth(ct, wire.OpComplete, 1); ok {
				expectNoCalls(ct, patchVersion("klpt_patch"), done.T1, math.MaxInt64, &out)
			}
			return out
		},
	})
}
