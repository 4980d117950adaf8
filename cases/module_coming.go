package cases

import (
	"fmt"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name: "module-coming",
		Doc:  "hold a transition open, load a module the patch targets and remove another; the new module's functions follow each task's state",
		Steps: seq([]Step{
			{Do: DoLoad, Module: "klpt_target3"},
			{Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoEnable}, {Do: DoWaitStall},
			{Do: DoLoad, Module: "klpt_target2"}, // klp_module_coming() patches it mid-transition
			{Do: DoWorkers, Module: "klpt_target2"},
			{Do: DoRemove, Module: "klpt_target3"}, // klp_module_going()
			{Do: DoSettle},
			{Do: DoRelease, Park: "A"}, {Do: DoWait}, {Do: DoSettle},
		}, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpLoad, wire.OpPark+":A", wire.OpEnable, wire.OpStall, wire.OpLoad, wire.OpRemove, wire.OpRelease+":A", wire.OpComplete)
			load, ok1 := nth(ct, wire.OpLoad, 1)
			done, ok2 := nth(ct, wire.OpComplete, 0)
			if !ok1 || !ok2 {
				return out
			}
			var mid, after int
			for _, g := range ct.Calls {
				if g.Target != "klpt_target2" {
					continue
				}
				if g.T0 > load.T1 && g.T1 < done.T0 {
					mid += g.N
				}
				if g.T0 > done.T1 {
					after += g.N
				}
			}
			// The shared consistency rule judges each call; here, make sure
			// there were calls to judge.
			if mid == 0 || after == 0 {
				out = append(out, rule.Violation{Rule: rule.Steps, Msg: fmt.Sprintf("klpt_target2 got %d calls mid-transition and %d after; want both", mid, after)})
			}
			return out
		},
	})
}
