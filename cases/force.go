package cases

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
		Check: func(tr *Trace, ct *CaseTrace) []Finding {
			var out []Finding
			expectOrder(ct, &out, OpPark+":A", OpDisable, OpStall, OpForce, OpComplete, OpRelease+":A", OpBusy)
			// Forced to the goal while asleep in the new function, it
			// wakes there: what force's documentation warns of.
			expectParked(ct.findParked("A", &out), VersionNew, false, &out)
			return out
		},
	})
}
