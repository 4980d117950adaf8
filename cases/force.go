package cases

import (
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name:    "force",
		Doc:     "hold an unpatching transition open with an uninterruptible task in the new function, force it; the module can never be removed",
		OwnBoot: true, // a forced unpatch leaves the patch module in for good
		Steps: []Step{
			{Do: DoEnable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoDisable},
			{Do: DoWaitStall},
			{Do: DoForce},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "A"},
			{Do: DoUnloadBusy},
		},
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpDisable, wire.OpStall, wire.OpForce, wire.OpComplete, wire.OpRelease+":A", wire.OpBusy)
			// Forced to the goal while asleep in the new function, it
			// wakes there: what force's documentation warns of.
			expectParked(findParked(ct, "A", &out), wire.VersionNew, false, &out)
			return out
		},
	})
}
