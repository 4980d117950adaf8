package cases

import (
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name: "reverse-unpatch",
		Doc:  "hold an unpatching transition open with a task parked in the new function, then reverse it back to patched",
		Steps: seq(patchSteps, []Step{
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoDisable},
			{Do: DoWaitStall},
			{Do: DoReverse},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "A"},
		}, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpComplete, wire.OpPark+":A", wire.OpDisable, wire.OpStall, wire.OpReverse, wire.OpComplete, wire.OpRelease+":A")
			// Asleep in the new function, A cannot switch back; after
			// the flip it is at the goal already.
			a := heldAsleep(ct, "A", wire.OpDisable, wire.StateUnpatched, &out)
			expectParked(a, wire.VersionNew, false, &out)
			return out
		},
	})
}
