package cases

import (
	"fmt"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name:  "kthread",
		Doc:   "a kernel thread parked interruptibly in the old function is woken by the kernel's fallback, switches, and the transition completes",
		Woken: []string{"K"},
		Steps: seq([]Step{
			{Do: DoSettle},
			{Do: DoParkKernel, Park: "K"},
			{Do: DoEnable},
			{Do: DoWait},
			{Do: DoSettle},
			{Do: DoRelease, Park: "K"},
		}, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":K", wire.OpEnable, wire.OpComplete, wire.OpRelease+":K")
			expectLog(tr, ct, "signaling remaining tasks", &out)
			k := findParked(ct, "K", &out)
			// Woken by the fallback, not the release: it left the old
			// function before the transition completed.
			expectParked(k, wire.VersionOld, false, &out)
			if k != nil && k.Wakes != 1 {
				out = append(out, rule.Violation{Rule: rule.Fallback, Task: fmt.Sprintf("K[%d]", k.TID), Msg: fmt.Sprintf("left klpt_park_func() %d times; want once", k.Wakes)})
			}
			return out
		},
	})
}
