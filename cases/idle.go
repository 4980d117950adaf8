package cases

import (
	"fmt"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name:    "idle",
		Doc:     "on a quiet 4-CPU guest (no workers), every per-CPU idle task switches during each transition and ends at -1, each transition in at most 3 tries and with no fake signal",
		OwnBoot: true,
		CPUs:    4,
		// No workers: an idle task the first try finds current on its
		// idle CPU cannot be switched by it (klp_check_and_switch_task()
		// refuses a running task); the try wakes that CPU with
		// wake_up_if_idle(), the idle loop switches its task
		// (klp_update_patch_state()), and the retry a second later finds
		// it switched. A task of the agent's busy on another CPU at a try
		// switches at its next return to user space, so a third try is
		// the most the kernel needs. Nothing else holds these
		// transitions, so no fake signal either.
		Quiet:    true,
		MaxTries: 3,
		Steps:    seq([]Step{{Do: DoSettle}}, patchSteps, unpatchSteps),
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			if tr.Hello == nil || tr.Hello.CPUs != 4 {
				out = append(out, rule.Violation{Rule: rule.Steps, Msg: "the guest does not have 4 CPUs"})
				return out
			}
			// The shared rules already want every idle task in every probe
			// snapshot and at -1 between transitions; here each must be
			// seen moving.
			moved := map[int]bool{}
			for _, s := range ct.Snapshots {
				for _, t := range s.Tasks {
					if t.Idle && t.State != wire.StateUndefined {
						moved[t.CPU] = true
					}
				}
			}
			for cpu := 0; cpu < 4; cpu++ {
				if !moved[cpu] {
					out = append(out, rule.Violation{Rule: rule.Steps, Task: fmt.Sprintf("swapper/%d", cpu), Msg: "never seen in a transition"})
				}
			}
			return out
		},
		// The kernel's tries of idle tasks (the probe's switch records):
		// idle-busy those that found the idle task current on its idle
		// CPU, where only wake_up_if_idle() gets it switched; 0 says
		// that path went untested in the run: measured 2026-12-07, 2 on
		// 6.1, 1-2 on klptest's arm64 build of 7.2, 0 on 6.12 (whose
		// tries found the idle tasks they tried off their CPUs).
		Counts: func(ct *wire.CaseTrace) map[string]int {
			n := map[string]int{"idle-tried": 0, "idle-busy": 0}
			for _, s := range ct.Switches {
				if !s.Idle {
					continue
				}
				n["idle-tried"]++
				if s.Ret == wire.ErrnoBusy {
					n["idle-busy"]++
				}
			}
			return n
		},
	})
}
