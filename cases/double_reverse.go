package cases

import (
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name: "double-reverse",
		Doc:  "reverse a held-open patching transition, then reverse it again before it completes (A parked in old, B in new)",
		Steps: seq([]Step{
			{Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoEnable},
			{Do: DoWaitStall},
			// B enters klpt_park_func() patched: it sleeps in the new one.
			{Do: DoPark, Park: "B", Mode: ParkUninterruptible},
			{Do: DoReverse}, // to unpatched: B now holds it open
			{Do: DoWaitStall},
			{Do: DoReverse}, // to patched again: A holds it open
			{Do: DoWaitStall},
			{Do: DoRelease, Park: "A"},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "B"},
		}, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpEnable, wire.OpStall, wire.OpPark+":B", wire.OpReverse, wire.OpStall, wire.OpReverse, wire.OpStall, wire.OpRelease+":A", wire.OpComplete, wire.OpRelease+":B")
			a := heldAsleep(ct, "A", wire.OpEnable, wire.StatePatched, &out)
			b := findParked(ct, "B", &out)
			r1, ok1 := nth(ct, wire.OpReverse, 0)
			r2, ok2 := nth(ct, wire.OpReverse, 1)
			if ok1 && ok2 {
				expectNeverAt(ct, b, wire.StateUnpatched, r1, r2, &out)
			}
			expectParked(a, wire.VersionOld, false, &out)
			expectParked(b, wire.VersionNew, false, &out)
			return out
		},
	})
}
