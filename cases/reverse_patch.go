package cases

import (
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name: "reverse-patch",
		Doc:  "hold a patching transition open with a task parked in the old function, then reverse it: done while the task still sleeps",
		Steps: []Step{
			{Do: DoSettle},
			// Uninterruptible: a hold that outlasts 15 retries must not be
			// ended by the fake signal (the signal case covers that).
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoEnable},
			{Do: DoWaitStall},
			{Do: DoReverse},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "A"},
			{Do: DoUnload},
		},
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpEnable, wire.OpStall, wire.OpReverse, wire.OpComplete, wire.OpRelease+":A")
			// Asleep in the old function, A cannot switch; after the
			// flip it is at the goal already.
			a := heldAsleep(ct, "A", wire.OpEnable, wire.StatePatched, &out)
			expectParked(a, wire.VersionOld, false, &out)
			return out
		},
	})
}
