package cases

import (
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name:  "signal",
		Doc:   "a user task parked interruptibly in the old function gets the fake signal after 15 retries, switches, and the transition completes; one parked interruptibly at the goal gets none",
		Woken: []string{"A"},
		Steps: seq([]Step{
			{Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkInterruptible},
			{Do: DoEnable},
			{Do: DoWaitStall},
			// B enters klpt_park_func() patched, without the flag: at the
			// goal, asleep as interruptibly as A, and no fallback's
			// business (klp_send_signals() skips tasks not pending).
			{Do: DoPark, Park: "B", Mode: ParkInterruptible},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "A"},
			{Do: DoRelease, Park: "B"},
		}, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpEnable, wire.OpStall, wire.OpPark+":B", wire.OpComplete, wire.OpRelease+":A", wire.OpRelease+":B")
			expectLog(tr, ct, "signaling remaining tasks", &out)
			// The fake signal ends the interruptible sleep with
			// -ERESTARTSYS; the syscall restarts, patched, in the new
			// function, where A sleeps until released.
			a := findParked(ct, "A", &out)
			expectParked(a, wire.VersionNew, true, &out)
			// B's one entry says no signal reached it; that tests
			// something only if the signals came after B slept, which A,
			// still in the old function after B parked, shows: A
			// switches only once signalled.
			b := findParked(ct, "B", &out)
			expectParked(b, wire.VersionNew, false, &out)
			parkB := opAt(ct, wire.OpPark, "B")
			done, ok := nth(ct, wire.OpComplete, 0)
			if a != nil && parkB != nil && ok {
				if _, behind := statesOf(ct, a.TID, parkB.T1, done.T0)[wire.StateUnpatched]; !behind {
					out = append(out, rule.Violation{Rule: rule.Coverage, Task: "B", T: parkB.T1,
						Msg: "no probe saw A still unpatched after B slept: the fake signals may have come first, so B's sparing was not tested"})
				}
			}
			return out
		},
	})
}
