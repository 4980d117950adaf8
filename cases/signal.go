package cases

import (
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name: "signal",
		Doc:  "a user task parked interruptibly in the old function gets the fake signal after 15 retries, switches, and the transition completes",
		Steps: seq([]Step{
			{Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkInterruptible},
			{Do: DoEnable},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "A"},
		}, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpEnable, wire.OpComplete, wire.OpRelease+":A")
			expectLog(tr, ct, "signaling remaining tasks", &out)
			// The fake signal ends the interruptible sleep with
			// -ERESTARTSYS; the syscall restarts, patched, in the new
			// function, where A sleeps until released.
			expectParked(findParked(ct, "A", &out), wire.VersionNew, true, &out)
			return out
		},
	})
}
