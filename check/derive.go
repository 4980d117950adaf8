package check

import (
	"math"
	"sort"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// Transitions klptest did not drive (the kernel's own selftests') have no
// ops of the agent's. The probe's snapshots carry the livepatch core's own
// state instead (wire.KLPReading), read just before and just after each
// pass: whether a transition is open, its goal, and counters the probe
// bumps in klp_init_transition() (Gen, one per transition), on
// klp_start_transition()'s return (Started: the flags are set), and in
// klp_reverse_transition() and klp_force_transition() (begun, and
// returned). derivedOps turns them into ops, so that the shared rules judge
// those transitions as they judge klptest's own.
//
// Why that is sound: every such step happens at an instant the readings do
// not see, but between the last reading that shows it not yet happened and
// the first that shows it done; both were taken inside their snapshots'
// [T0,T1], so the step lies in [T0 of the one, T1 of the other], and that
// is the op's window. The agent's ops are windows of the same kind (the
// step happened somewhere inside the action), and every rule already reads
// them so: a snapshot that overlaps a window is not held to either side of
// it. The counters only grow, and transitions run one at a time under
// klp_mutex, so Gen > g says transition g is over, and Gen == g with no
// transition open says the same. Each counter is bumped, with a full
// barrier, before the function it counts writes anything, so a reading
// that shows a count not yet bumped was taken before any of that step's
// writes could be seen. Completion has no probe of its own
// (klp_complete_transition() is static, and may be inlined): it clears
// klp_transition_patch last, after resetting every task, so the first
// reading without an open transition is after the reset, and the snapshot
// that holds it overlaps the completion's window and is judged by neither
// side.

// reading is one KLPReading, and t, the edge of its snapshot on its side of
// the pass: T0 for the reading before the pass, T1 for the one after. A
// step seen done by a before-reading happened before every task of its
// snapshot was read; one not yet done at an after-reading, after. So
// windows bounded by t hold every snapshot whose tasks may have seen a
// step either way, as overlapping it, and no other: what the rules need
// of a window. (As a bound on the step's time, t is not exact: the
// readings are taken inside the read that T0 and T1 bracket.)
type reading struct {
	k wire.KLPReading
	t int64
}

// readings returns the probe snapshots' readings in time order; ok is false
// when the probe gave none (a kernel where it cannot read the transition's
// state).
func readings(ct *wire.CaseTrace) ([]reading, bool) {
	var out []reading
	snaps := append([]wire.Snapshot(nil), ct.Snapshots...)
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].T0 < snaps[j].T0 })
	for _, s := range snaps {
		if s.Source != wire.SourceProbe || s.Before == nil || s.After == nil {
			continue
		}
		out = append(out, reading{*s.Before, s.T0}, reading{*s.After, s.T1})
	}
	return out, len(out) > 0
}

// window returns when a step happened: after the last reading in rs for
// which done is false, before the first for which it is true (done is
// monotonic). Without such readings the window opens at -inf or never
// closes (+inf).
func window(rs []reading, done func(wire.KLPReading) bool) (t0, t1 int64) {
	t0, t1 = math.MinInt64, math.MaxInt64
	i := sort.Search(len(rs), func(i int) bool { return done(rs[i].k) })
	if i > 0 {
		t0 = rs[i-1].t
	}
	if i < len(rs) {
		t1 = rs[i].t
	}
	return t0, t1
}

// derivedOps returns the transitions the readings show, begun during the
// case, as ops: for each, its enable (goal 1) or disable (goal 0), the
// reversals, forces and flips of its goal without either
// (klp_cancel_transition()), and its completion, unless the case ended
// first.
func derivedOps(rs []reading) []wire.Op {
	if len(rs) == 0 {
		return nil
	}
	first, last := rs[0].k, rs[len(rs)-1].k
	from := first.Gen + 1 // transitions begun during the case
	if first.Open {
		from = first.Gen // one open at the first reading: begun before it, judged from there
	}
	var ops []wire.Op
	for g := from; g <= last.Gen; g++ {
		// Readings taken while transition g was open.
		var in []reading
		for _, r := range rs {
			if r.k.Gen == g && r.k.Open {
				in = append(in, r)
			}
		}
		// A transition that no reading saw open with its goal (over
		// within one pass, or between two) gets goal -1: the snapshots
		// that overlap it are not judged (checkSnapshots).
		goal, ok := startGoal(rs, in, g)
		if !ok {
			goal = wire.StateUndefined
		}
		begun := func(k wire.KLPReading) bool { return k.Gen >= g }
		over := func(k wire.KLPReading) bool { return k.Gen > g || (k.Gen == g && !k.Open) }
		started := func(k wire.KLPReading) bool { return k.Started >= g || over(k) }
		s0, _ := window(rs, begun)
		_, s1 := window(rs, started)
		c0, c1 := window(rs, over)
		kind := wire.OpDisable
		if goal != wire.StateUnpatched {
			kind = wire.OpEnable
		}
		s0 = max(s0, rs[0].t-1) // begun before the first reading: judged from it
		ops = append(ops, wire.Op{Kind: kind, Goal: goal, T0: s0, T1: s1, Derived: true})
		// Reversals and forces begun while g was open, in the order they
		// began (each holds klp_mutex throughout).
		var moves []wire.Op
		rev0, rev1 := countsDuring(rs, g, func(k wire.KLPReading) int64 { return k.Rev })
		for r := rev0 + 1; r <= rev1; r++ {
			a, _ := window(rs, func(k wire.KLPReading) bool { return k.Rev >= r })
			_, b := window(rs, func(k wire.KLPReading) bool { return k.Reversed >= r })
			moves = append(moves, wire.Op{Kind: wire.OpReverse, T0: max(a, s0), T1: min(b, c1), Derived: true})
		}
		f0, f1 := countsDuring(rs, g, func(k wire.KLPReading) int64 { return k.Force })
		for f := f0 + 1; f <= f1; f++ {
			a, _ := window(rs, func(k wire.KLPReading) bool { return k.Force >= f })
			_, b := window(rs, func(k wire.KLPReading) bool { return k.Forced >= f })
			moves = append(moves, wire.Op{Kind: wire.OpForce, T0: max(a, s0), T1: min(b, c1), Derived: true})
		}
		sort.SliceStable(moves, func(i, j int) bool { return moves[i].T0 < moves[j].T0 })
		for _, m := range moves {
			if m.Kind == wire.OpReverse && goal != wire.StateUndefined {
				goal = 1 - goal
			}
			m.Goal = goal
			ops = append(ops, m)
		}
		// A goal the reversals do not explain: klp_cancel_transition()
		// turned a failed enable into an unpatching.
		if end, ok := lastGoal(in); ok && goal != wire.StateUndefined && end != goal {
			i := len(in) - 1
			for i > 0 && in[i-1].k.Goal == end {
				i--
			}
			t0 := s0
			if i > 0 {
				t0 = in[i-1].t
			}
			goal = end
			ops = append(ops, wire.Op{Kind: wire.OpReverse, Goal: goal, T0: t0, T1: in[i].t, Derived: true})
		}
		if c1 == math.MaxInt64 {
			continue // still open when the case ended: end-state says so
		}
		ops = append(ops, wire.Op{Kind: wire.OpComplete, Goal: goal, T0: max(c0, s0), T1: c1, Derived: true})
	}
	// In the order the steps happened (transitions one at a time, each
	// step of one after the one before), which a sort by the windows'
	// starts would not keep where windows overlap.
	return ops
}

// countsDuring returns a counter's value when transition g began and its
// last value while g was open (or, if no reading saw it open, at its end).
func countsDuring(rs []reading, g int64, count func(wire.KLPReading) int64) (before, during int64) {
	before, during = -1, -1
	for _, r := range rs {
		switch {
		case r.k.Gen < g:
			before = count(r.k)
		case r.k.Gen == g:
			if before < 0 {
				before = count(r.k)
			}
			during = count(r.k)
		}
	}
	if before < 0 {
		before = 0
	}
	return before, max(during, before)
}

// startGoal is the goal transition g began with: the goal a reading of it
// showed with no reversal begun since g began (klp_init_transition() sets
// klp_transition_patch before klp_target_state, so a reading in between
// shows the goal still -1, and is skipped), or, past reversals that had all
// returned, that goal flipped once per reversal.
func startGoal(rs, in []reading, g int64) (int, bool) {
	base, _ := countsDuring(rs, g, func(k wire.KLPReading) int64 { return k.Rev })
	for _, r := range in {
		if r.k.Goal != wire.StateUnpatched && r.k.Goal != wire.StatePatched || r.k.Rev != r.k.Reversed {
			continue
		}
		if (r.k.Rev-base)%2 == 0 {
			return r.k.Goal, true
		}
		return 1 - r.k.Goal, true
	}
	return 0, false
}

// lastGoal is the goal of the last reading of in that shows one, with no
// reversal in flight.
func lastGoal(in []reading) (int, bool) {
	for i := len(in) - 1; i >= 0; i-- {
		if k := in[i].k; (k.Goal == wire.StateUnpatched || k.Goal == wire.StatePatched) && k.Rev == k.Reversed {
			return k.Goal, true
		}
	}
	return 0, false
}

// checkDerived holds the transitions of a case klptest did not drive to
// the rules on task states: outside-transition, monotonic, pending-flag,
// completion-order, fork-inherit, and end-state's bound. The rules on
// calls and chains have nothing to judge there (no workers of klptest's
// run), nor sysfs (the agent read none at the derived completions).
func checkDerived(ct *wire.CaseTrace, c cases.Case, col *collector, add func(rule.Violation)) {
	rs, ok := readings(ct)
	if !ok {
		add(rule.Violation{Rule: rule.Coverage, Msg: "could not judge the script's transitions: no probe snapshot read the transition's state (klpt_probe logs why at load)"})
		return
	}
	ops := derivedOps(rs)
	if len(ops) == 0 {
		if r := ct.Kselftest; r == nil || r.Exit != wire.KselftestSkip {
			add(rule.Violation{Rule: rule.Coverage, Msg: "could not judge the script's transitions: the probe saw none begin"})
		}
		return
	}
	d := *ct
	d.Ops = ops
	m := buildModel(&d, add)
	checkSnapshots(&d, m, col)
	checkForks(&d, m, col)
	checkEnd(&d, m, c, add)
}
