package cases

func init() {
	register(Case{
		Name: "reverse-unpatch",
		Doc:  "hold an unpatching transition open with a task parked in the new function, then reverse it back to patched",
		Steps: []Step{
			{Do: DoEnable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoDisable},
			{Do: DoWaitStall},
			{Do: DoReverse},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "A"},
			{Do: DoDisable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoUnload},
		},
		Check: func(tr *Trace, ct *CaseTrace) []Finding {
			var out []Finding
			expectOrder(ct, &out, OpComplete, OpPark+":A", OpDisable, OpStall, OpReverse, OpComplete, OpRelease+":A")
			a := ct.findParked("A", &out)
			dis, ok1 := ct.nth(OpDisable, 0)
			rel, ok2 := ct.nth(OpRelease, 0)
			if ok1 && ok2 {
				expectNeverAt(ct, a, StateUnpatched, dis, rel, &out)
			}
			expectParked(a, VersionNew, false, &out)
			return out
		},
	})
}
