package cases

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
		Check: func(tr *Trace, ct *CaseTrace) []Finding {
			var out []Finding
			expectOrder(ct, &out, OpPark+":A", OpEnable, OpStall, OpPark+":B", OpReverse, OpStall, OpReverse, OpStall, OpRelease+":A", OpComplete, OpRelease+":B")
			a := heldAsleep(ct, "A", OpEnable, StatePatched, &out)
			b := ct.findParked("B", &out)
			r1, ok1 := ct.nth(OpReverse, 0)
			r2, ok2 := ct.nth(OpReverse, 1)
			if ok1 && ok2 {
				expectNeverAt(ct, b, StateUnpatched, r1, r2, &out)
			}
			expectParked(a, VersionOld, false, &out)
			expectParked(b, VersionNew, false, &out)
			return out
		},
	})
}
