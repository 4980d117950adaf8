package check

import (
	"slices"

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
//     transitions whose readings, on both sides and between, were taken
//     while the probe's counters counted and missed nothing;
//   - "wakes-judged": how many parked tasks' wakes by the kernel's fake
//     signal checkWakes could place among the tries, when any woke;
//   - for a kernel selftest, "transitions-judged": how many of its
//     transitions the rules judged (derivedOps, with a goal seen), and
//     "readings-blind": how many readings said nothing (markBlind).
func Figures(ct *wire.CaseTrace, c cases.Case) map[string]int {
	rs, ok := readings(ct)
	if !ok {
		return nil
	}
	ops := ct.Ops
	out := map[string]int{}
	if c.Kselftest != "" {
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
	for _, p := range ct.Parked {
		if p.Woke != 0 {
			out["wakes-judged"] = checkWakes(ct, c, func(rule.Violation) {})
			break
		}
	}
	if ns := transitionTries(rs, ops); len(ns) > 0 {
		out["tries-max"] = slices.Max(ns)
	}
	return out
}

// transitionTries returns how many klp_try_complete_transition() calls
// each complete transition of ops took, its first try and each retry,
// for the transitions whose readings, on both sides and between, were
// taken while the probe's counters counted and missed nothing.
func transitionTries(rs []reading, ops []wire.Op) []int {
	var out []int
	m := buildModel(&wire.CaseTrace{Ops: ops}, func(rule.Violation) {})
	for _, tr := range m.trans {
		if tr.end == nil {
			continue
		}
		// The last reading taken before the transition's first try, and
		// the first taken after its completion: they bracket every try.
		// For the agent's ops those wholly before the action and wholly
		// after the read that saw it complete; a derived op's window
		// runs from the last reading without its step to the first with
		// it (derivedOps).
		d := tr.start.Derived
		b, a := -1, -1
		for i, r := range rs {
			if r.hi <= tr.start.T0 || d && r.lo <= tr.start.T0 {
				b = i
			}
			if a < 0 && (r.lo >= tr.end.T1 || d && r.hi >= tr.end.T1) {
				a = i
			}
		}
		if b < 0 || a < 0 || len(trusted(rs[b:a+1])) != a+1-b {
			continue // a try may have gone uncounted
		}
		out = append(out, int(rs[a].k.Tries-rs[b].k.Tries))
	}
	return out
}
