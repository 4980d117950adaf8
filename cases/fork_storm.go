package cases

import (
	"fmt"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name: "fork-storm",
		Doc:  "hold a patching transition open and storm it with forks, vfork+execs, threads and fork chains; every child inherits its parent's state and flag",
		Steps: seq([]Step{
			{Do: DoSettle},
			// Uninterruptible: the fake signal must not end the hold
			// while the storm runs.
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			// The storm runs as the transition starts, so that tasks fork
			// in every phase: before init, between init and start (state
			// set, flag not yet), with the flag pending, and switched.
			{Do: DoStormStart},
			{Do: DoEnable},
			{Do: DoWaitStall},
			{Do: DoStormWait},
			{Do: DoRelease, Park: "A"},
			{Do: DoWait},
			{Do: DoSettle},
		}, unpatchSteps),
		Counts: forkRaceCounts,
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpEnable, wire.OpStall, wire.OpStorm, wire.OpRelease+":A", wire.OpComplete)
			expectParked(findParked(ct, "A", &out), wire.VersionOld, false, &out)
			st, ok := nth(ct, wire.OpStorm, 0)
			if !ok {
				return out
			}
			made := st.Counts["fork"] + st.Counts["vfork+exec"] + st.Counts["thread"]
			during, initial := 0, 0
			for _, f := range ct.Forks {
				if f.T > st.T0 && f.T < st.T1 {
					during++
					if f.PState == wire.StateUnpatched {
						initial++
					}
				}
			}
			// Every task the storm made is a fork the probe recorded
			// (plus the exec'd children's own threads), and some came from
			// parents not yet switched.
			if made == 0 || during < made {
				out = append(out, rule.Violation{Rule: rule.Steps, T: st.T0, Msg: fmt.Sprintf(
					"the storm made %d tasks but the probe saw %d forks during it", made, during)})
			}
			if initial == 0 {
				out = append(out, rule.Violation{Rule: rule.Steps, T: st.T0, Msg: "no fork during the storm came from a parent still at the initial state"})
			}
			return out
		},
	})
}
