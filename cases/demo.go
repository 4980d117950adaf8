package cases

import "github.com/klptest/klptest/rule"

// Demo cases: the kernel is broken on purpose through the probe module's
// /proc/klpt_inject, and klptest must FAIL with the named rule. They show
// that the kernel-level rules fire on a kernel that breaks the consistency
// model, not only on edited traces.
func init() {
	register(Case{
		Name: "demo-spurious-pending",
		Doc:  "demo, must FAIL: a sleeper gets TIF_PATCH_PENDING after the transition completed (the seed thread's bug)",
		Demo: rule.Outside,
		Steps: seq(patchSteps, []Step{
			{Do: DoInject, Fault: FaultSetPending},
			{Do: DoSettle},
			{Do: DoInject, Fault: FaultClearPending},
		}, unpatchSteps),
	})
	register(Case{
		Name: "demo-lost-flag",
		Doc:  "demo, must FAIL: a task held in the old function loses TIF_PATCH_PENDING mid-transition",
		Demo: rule.Pending,
		Steps: seq([]Step{
			{Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoEnable}, {Do: DoWaitStall},
			{Do: DoInject, Park: "A", Fault: FaultClearPending},
			// Held 1.5 s, well past check.PersistNS even when a loaded
			// host stretches the gaps between snapshots.
			{Do: DoSettle}, {Do: DoSettle}, {Do: DoSettle}, {Do: DoSettle}, {Do: DoSettle},
			{Do: DoRelease, Park: "A"}, {Do: DoWait}, {Do: DoSettle},
		}, unpatchSteps),
	})
	register(Case{
		Name: "demo-warn",
		Doc:  "demo, must FAIL: the kernel warns (WARN() in the probe module) while a patch is applied; the violation quotes the splat, decoded to file:line where the build has debug info",
		Demo: rule.KernelLog,
		Steps: seq(patchSteps, []Step{
			{Do: DoInject, Fault: FaultWarn},
			{Do: DoSettle},
		}, unpatchSteps),
	})
	register(Case{
		Name: "demo-stall",
		Doc:  "demo, must FAIL: a task parked uninterruptibly in the old function, out of the fake signal's reach, stalls the transition past its bound; the forensics name it",
		Demo: rule.EndState,
		// Short: the point is the evidence, not the wait.
		BoundSeconds: 5,
		Steps: seq([]Step{
			{Do: DoSettle},
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoEnable}, {Do: DoWait},
			// Not reached: the wait fails, and the cleanup releases A,
			// lets the transition complete and unpatches.
		}),
	})
}

// Fault cases: the guest fails under klptest (its agent hangs in the
// kernel, the kernel panics), for the fault tests of klptest itself.
func init() {
	register(Case{
		Name:    "fault-hang",
		Doc:     "fault, must FAIL: the agent hangs in the kernel (uninterruptible, for ever) while a patch is applied; the host's timeout collects evidence and kills QEMU",
		Fault:   true,
		OwnBoot: true,
		Steps:   seq(patchSteps, []Step{{Do: DoInject, Fault: FaultHang}}),
	})
	register(Case{
		Name:    "fault-panic",
		Doc:     "fault, must FAIL: the kernel panics while a patch is applied; the verdict quotes the panic",
		Fault:   true,
		OwnBoot: true,
		Steps:   seq(patchSteps, []Step{{Do: DoInject, Fault: FaultPanic}}),
	})
	register(Case{
		Name:    "fault-result-truncated",
		Doc:     "fault, must FAIL: the result port delivers half an event line, then nothing; klptest names the last event it got",
		Fault:   true,
		OwnBoot: true,
		Steps:   seq(patchSteps, []Step{{Do: DoBreakPort, Fault: FaultTruncate}}, unpatchSteps),
	})
	register(Case{
		Name:    "fault-result-closed",
		Doc:     "fault, must FAIL: the result port closes early, the guest running on; klptest names the last event it got",
		Fault:   true,
		OwnBoot: true,
		Steps:   seq(patchSteps, []Step{{Do: DoBreakPort, Fault: FaultClose}}, unpatchSteps),
	})
}
