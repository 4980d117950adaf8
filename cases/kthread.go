package cases

import "fmt"

func init() {
	register(Case{
		Name: "kthread",
		Doc:  "a kernel thread parked interruptibly in the old function is woken by the kernel's fallback, switches, and the transition completes",
		Steps: seq([]Step{
			{Do: DoSettle},
			{Do: DoParkKernel, Park: "K"},
			{Do: DoEnable},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "K"},
		}, unpatchSteps),
		Check: func(tr *Trace, ct *CaseTrace) []Finding {
			var out []Finding
			expectOrder(ct, &out, OpPark+":K", OpEnable, OpComplete, OpRelease+":K")
			expectLog(tr, ct, "signaling remaining tasks", &out)
			k := ct.findParked("K", &out)
			// Woken by the fallback, not the release: it left the old
			// function before the transition completed.
			expectParked(k, VersionOld, false, &out)
			if k != nil && k.Wakes != 1 {
				out = append(out, Finding{Rule: RuleFallback, Task: fmt.Sprintf("K[%d]", k.TID), Msg: fmt.Sprintf("left klpt_park_func() %d times; want once", k.Wakes)})
			}
			return out
		},
	})
}
