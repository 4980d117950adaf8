package check

import (
	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// Figures returns measurements of a case's trace that its verdict reports
// whether or not it passed, from the probe's readings of the transition's
// state (nil without them):
//   - "tries-max": the most klp_try_complete_transition() calls one
//     transition took, its first try and each retry (the kernel retries
//     once a second, and sends the fake signals on the 16th try), over the
//     transitions whose readings on both sides were taken with ftrace on;
//   - for a kernel selftest, "transitions-judged": how many of its
//     transitions the rules judged (derivedOps, with a goal seen), and
//     "readings-blind": how many readings said nothing (ftrace off).
func Figures(ct *wire.CaseTrace, c cases.Case) map[string]int {
	snaps := probeSnaps(ct)
	if len(snaps) == 0 {
		return nil
	}
	ops := ct.Ops
	out := map[string]int{}
	if c.Kselftest != "" {
		rs, _ := readings(ct)
		blind := 0
		for _, r := range rs {
			if r.blind {
				blind++
			}
		}
		out["readings-blind"] = blind
		derived, err := derivedOps(trusted(rs))
		if err != nil {
			return out
		}
		ops = derived
		judged := 0
		for _, o := range ops {
			if o.Kind == wire.OpComplete && o.Goal != wire.StateUndefined {
				judged++
			}
		}
		out["transitions-judged"] = judged
	}
	m := buildModel(&wire.CaseTrace{Ops: ops}, func(rule.Violation) {})
	triesMax, seen := 0, false
	for _, tr := range m.trans {
		if tr.end == nil {
			continue
		}
		// The last snapshot wholly before the action, and the first
		// wholly after the completion was seen: their readings bracket
		// every try.
		var before, after *wire.Snapshot
		for i := range snaps {
			s := &snaps[i]
			if s.T1 <= tr.start.T0 {
				before = s
			}
			if s.T0 >= tr.end.T1 && after == nil {
				after = s
			}
		}
		if before == nil || after == nil || !ftraceOnBetween(snaps, before, after) {
			continue
		}
		n := int(after.Before.Tries - before.After.Tries)
		if !seen || n > triesMax {
			triesMax, seen = n, true
		}
	}
	if seen {
		out["tries-max"] = triesMax
	}
	return out
}

// ftraceOnBetween says whether every reading from a's to b's was taken
// with ftrace on, so that the probe counted every try in between.
func ftraceOnBetween(snaps []wire.Snapshot, a, b *wire.Snapshot) bool {
	for _, s := range snaps {
		if s.T0 >= a.T0 && s.T0 <= b.T0 && (s.Before.Ftrace != 1 || s.After.Ftrace != 1) {
			return false
		}
	}
	return true
}
