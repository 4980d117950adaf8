package cases

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
		Check: func(tr *Trace, ct *CaseTrace) []Finding {
			var out []Finding
			expectOrder(ct, &out, OpPark+":A", OpEnable, OpStall, OpReverse, OpComplete, OpRelease+":A")
			// Asleep in the old function, A cannot switch; after the
			// flip it is at the goal already.
			a := heldAsleep(ct, "A", OpEnable, StatePatched, &out)
			expectParked(a, VersionOld, false, &out)
			return out
		},
	})
}
