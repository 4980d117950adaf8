package cases

import (
	"fmt"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// loop: the transitions of the other cases, hundreds of times in one boot,
// where once-in-a-thousand races show: each round enables klpt_patch,
// replaces it atomically with klpt_patch2, stacks klpt_patch3 on that and
// takes it off, then disables klpt_patch2, removing each module once it is
// free, with workers and chains (one crossing modules) running throughout.
// Every shared rule judges every transition; the violations' counts say how
// often each went wrong. Before and after the rounds the agent reads what
// a leak would grow: a target module's reference count and the livepatch
// sysfs entries must come back to where they were, and no transition may
// be left open (the probe's readings); memory is reported, not judged (the
// page cache and the slabs move with the workers; kmemleak on a debug
// kernel is the tool for that).
func init() {
	// A settle after each transition that leaves a patch applied reads
	// /proc/cmdline there: vmlinux-patch holds each patch's core-kernel
	// half to the version that patch set applies.
	round := []Step{
		{Do: DoEnable}, {Do: DoWait}, {Do: DoSettle},
		{Do: DoEnable, Patch: "klpt_patch2"}, {Do: DoWait}, {Do: DoSettle},
		{Do: DoUnload, Patch: "klpt_patch"}, // replaced, so freed
		{Do: DoEnable, Patch: "klpt_patch3"}, {Do: DoWait}, {Do: DoSettle},
		{Do: DoDisable, Patch: "klpt_patch3"}, {Do: DoWait}, {Do: DoSettle},
		{Do: DoUnload, Patch: "klpt_patch3"},
		{Do: DoDisable, Patch: "klpt_patch2"}, {Do: DoWait},
		{Do: DoUnload, Patch: "klpt_patch2"},
	}
	register(Case{
		Name: "loop",
		Doc:  fmt.Sprintf("%d rounds of enable, atomic replace, stacked patch and disable (%d transitions) under workers and chains; every rule on each, and no leak of module references, sysfs entries or an open transition", LoopRounds, LoopRounds*loopTransitions),
		Long: true,
		Steps: []Step{
			{Do: DoLoad, Module: "klpt_target2"},
			{Do: DoWorkers, Chain: true, Module: "klpt_target"},
			{Do: DoWorkers, Chain: true, Cross: true, Module: "klpt_target2"},
			{Do: DoSettle},
			{Do: DoLeaks},
			{Do: DoRepeat, Repeat: round, Rounds: LoopRounds, Seconds: LoopSeconds},
			{Do: DoSettle},
			{Do: DoLeaks},
		},
		Counts: loopCounts,
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpLeaks, wire.OpRepeat, wire.OpLeaks)
			if rep, ok := nth(ct, wire.OpRepeat, 0); ok && rep.Counts["rounds"] < LoopRounds {
				out = append(out, rule.Violation{Rule: rule.Coverage, T: rep.T1, Msg: fmt.Sprintf(
					"could not test: %d of %d rounds within %d s", rep.Counts["rounds"], LoopRounds, LoopSeconds)})
			}
			before, ok1 := nth(ct, wire.OpLeaks, 0)
			after, ok2 := nth(ct, wire.OpLeaks, 1)
			if !ok1 || !ok2 {
				return out
			}
			for _, k := range []string{wire.LeakRefcnt, wire.LeakLivepatches} {
				if before.Counts[k] != after.Counts[k] {
					out = append(out, rule.Violation{Rule: rule.EndState, T: after.T0, Msg: fmt.Sprintf(
						"%s was %d before the rounds and %d after: a leak", k, before.Counts[k], after.Counts[k])})
				}
			}
			if s := lastProbeSnapshot(ct); s != nil && s.After != nil && s.After.Open {
				out = append(out, rule.Violation{Rule: rule.EndState, T: s.T0, Msg: "a transition was still open (klp_transition_patch) after the rounds"})
			}
			return out
		},
	})
}

// LoopRounds is how many rounds the loop case runs; each has
// loopTransitions transitions. LoopSeconds bounds them (about 8 s a round
// on TCG).
const (
	LoopRounds      = 40
	LoopSeconds     = 900
	loopTransitions = 5
)

// loopCounts reports the rounds run, the transitions seen complete, and
// how memory moved across the rounds, in kB.
func loopCounts(ct *wire.CaseTrace) map[string]int {
	n := map[string]int{"completed": len(ct.OpsOf(wire.OpComplete))}
	if rep, ok := nth(ct, wire.OpRepeat, 0); ok {
		n["rounds"] = rep.Counts["rounds"]
	}
	before, ok1 := nth(ct, wire.OpLeaks, 0)
	after, ok2 := nth(ct, wire.OpLeaks, 1)
	if ok1 && ok2 {
		for _, k := range wire.MeminfoLeakKeys {
			n[k+"-delta-kb"] = after.Counts[k] - before.Counts[k]
		}
	}
	return n
}

// lastProbeSnapshot is the case's last probe snapshot, or nil.
func lastProbeSnapshot(ct *wire.CaseTrace) *wire.Snapshot {
	var last *wire.Snapshot
	for i := range ct.Snapshots {
		if s := &ct.Snapshots[i]; s.Source == wire.SourceProbe && (last == nil || s.T0 > last.T0) {
			last = s
		}
	}
	return last
}
