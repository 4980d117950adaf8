package cases

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
		Check: func(tr *Trace, ct *CaseTrace) []Finding {
			var out []Finding
			expectOrder(ct, &out, OpComplete, OpPark+":A", OpDisable, OpStall, OpReverse, OpComplete, OpRelease+":A")
			// Asleep in the new function, A cannot switch back; after
			// the flip it is at the goal already.
			a := heldAsleep(ct, "A", OpDisable, StateUnpatched, &out)
			expectParked(a, VersionNew, false, &out)
			return out
		},
	})
}
