package check

import (
	"fmt"
	"math"
	"sort"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// Transitions klptest did not drive (the kernel's own selftests') have no
// ops of the agent's. The probe's snapshots carry the livepatch core's own
// state instead (wire.KLPReading), read just before and just after each
// pass: whether a transition is open and its goal, and counters the probe
// keeps with kretprobes: klp_init_transition() entered (Gen, one per
// transition) and returned (Inited: the task states are set),
// klp_start_transition() returned (Started: the flags are set), and
// klp_reverse_transition() and klp_force_transition() entered and returned.
// derivedOps turns them into ops, so that the shared rules judge those
// transitions as they judge klptest's own.
//
// Why that is sound:
//   - Every step happens at an instant no reading sees, between the last
//     reading that shows it not done and the first that shows it done.
//     Each reading is taken at one moment between its RT0 and RT1, and the
//     reading before a pass is taken before any of its tasks, the one
//     after it after every task; so the window from the earlier reading's
//     RT0 to the later one's RT1 holds the step, and every snapshot whose
//     tasks may have seen the step either way overlaps it. (The
//     snapshot's own T0 and T1 would not do: the step may fall between
//     the reading after a pass and that pass's T1.) The agent's ops are
//     windows of the same kind, and every rule reads them so: a snapshot
//     that overlaps a window is held to neither side of it.
//   - An entry's count is made visible, with a full barrier, before the
//     function writes anything, and a return's after a full barrier, after
//     all it wrote; a reading takes the counters, the state and the
//     counters again until the two counts agree (klpt_read_klp()). So a
//     reading without a step's count was taken before any of the step's
//     writes could be seen, and one with a return's count after all of
//     them.
//   - Transitions run one at a time under klp_mutex: Gen > g says
//     transition g is over, and so does Gen == Inited == g with none open
//     (klp_transition_patch is the first thing klp_init_transition()
//     writes, and the last thing klp_complete_transition() clears, after
//     resetting every task; completion has no probe of its own, as
//     klp_complete_transition() is static and may be inlined).
//   - The counters stop while kprobes are disarmed, and on x86, where the
//     kretprobes sit on ftrace call sites, while ftrace_enabled is 0
//     (test-ftrace.sh sets it); a probe hit missed loses a count for good.
//     A reading taken while they do not count, one after a new miss (until
//     a reading shows no transition open or begun), and one that
//     contradicts an earlier one (a transition open whose begin was never
//     counted) is blind. Snapshots across a blind stretch are judged by no
//     rule, and no window is made of its readings.
//   - Only the probe's snapshots are judged: their passes lie between two
//     readings. A /proc snapshot has none, and its tasks are read one file
//     at a time over a long pass.
//   - A snapshot held to a stable stretch must itself have read no
//     transition open; one that did is not judged either.

// reading is one KLPReading, taken at one moment between lo and hi (its
// RT0 and RT1).
type reading struct {
	k      wire.KLPReading
	lo, hi int64
	blind  bool
}

// readings returns the probe snapshots' readings in time order; ok is false
// when the probe gave none (a kernel where it cannot read the transition's
// state).
func readings(ct *wire.CaseTrace) ([]reading, bool) {
	var out []reading
	for _, s := range probeSnaps(ct) {
		out = append(out, reading{k: *s.Before, lo: s.Before.RT0, hi: s.Before.RT1}, reading{k: *s.After, lo: s.After.RT0, hi: s.After.RT1})
	}
	markBlind(out)
	return out, len(out) > 0
}

// probeSnaps are the probe's snapshots with readings, in time order.
func probeSnaps(ct *wire.CaseTrace) []wire.Snapshot {
	var out []wire.Snapshot
	for _, s := range ct.Snapshots {
		if s.Source == wire.SourceProbe && s.Before != nil && s.After != nil {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T0 < out[j].T0 })
	return out
}

// markBlind marks the readings that say nothing of the steps: taken while
// the counters were not counting or not known to; from a new miss of the
// probes' up to and including the first reading that shows no transition
// open or begun (the counts before and after a miss do not compare); and
// those that show a transition open that the counters missed (open at a
// Gen an earlier reading saw over), until one shows it closed or a new one
// begun.
func markBlind(rs []reading) {
	overGen := int64(-1) // the latest Gen a trusted reading saw over
	missed := false
	lost := false // a probe hit missed since the last quiescent reading
	var misses int64
	if len(rs) > 0 {
		misses = rs[0].k.Missed // those before the case: its counts start after them
	}
	for i := range rs {
		k := rs[i].k
		if k.Counting != 1 {
			rs[i].blind = true
			continue
		}
		if k.Missed > misses {
			misses, lost = k.Missed, true
		}
		if lost {
			rs[i].blind = true
			if !k.Open && k.Inited == k.Gen {
				lost, missed, overGen = false, false, k.Gen
			}
			continue
		}
		if missed && k.Gen == overGen && k.Open {
			rs[i].blind = true
			continue
		}
		missed = false
		switch {
		case k.Open && k.Gen == overGen:
			missed = true
			rs[i].blind = true
		case !k.Open && k.Inited == k.Gen:
			overGen = k.Gen
		}
	}
}

// blindSpans are the stretches, from the edge of the trusted reading before
// each run of blind readings to that of the trusted reading after it, in
// which the readings say nothing.
func blindSpans(rs []reading) [][2]int64 {
	var out [][2]int64
	for i := 0; i < len(rs); i++ {
		if !rs[i].blind {
			continue
		}
		from := int64(math.MinInt64)
		if i > 0 {
			from = rs[i-1].lo
		}
		j := i
		for j < len(rs) && rs[j].blind {
			j++
		}
		to := int64(math.MaxInt64)
		if j < len(rs) {
			to = rs[j].hi
		}
		out = append(out, [2]int64{from, to})
		i = j
	}
	return out
}

// trusted returns the readings that are not blind.
func trusted(rs []reading) []reading {
	var out []reading
	for _, r := range rs {
		if !r.blind {
			out = append(out, r)
		}
	}
	return out
}

// window returns when a step happened: after the last reading in rs for
// which done is false, before the first for which it is true. Without such
// readings the window opens at -inf or never closes (+inf). ok is false
// when done is not monotonic over rs: the readings contradict themselves.
func window(rs []reading, done func(wire.KLPReading) bool) (t0, t1 int64, ok bool) {
	t0, t1 = math.MinInt64, math.MaxInt64
	i := sort.Search(len(rs), func(i int) bool { return done(rs[i].k) })
	for j, r := range rs {
		if done(r.k) != (j >= i) {
			return t0, t1, false
		}
	}
	if i > 0 {
		t0 = rs[i-1].lo
	}
	if i < len(rs) {
		t1 = rs[i].hi
	}
	return t0, t1, true
}

// derivedOps returns the transitions the trusted readings show, begun
// during the case, as ops: for each, its enable (goal 1) or disable (goal
// 0), the reversals, forces and flips of its goal without either
// (klp_cancel_transition()), and its completion, unless the case ended
// first. A transition no reading saw open with its goal has goal -1: the
// snapshots that overlap it are not judged (checkSnapshots). err says where
// the readings contradict themselves.
func derivedOps(rs []reading) ([]wire.Op, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	first, last := rs[0].k, rs[len(rs)-1].k
	from := first.Gen + 1 // transitions begun during the case
	if first.Open || first.Inited != first.Gen {
		from = first.Gen // one open at the first reading: judged from there
	}
	var ops []wire.Op
	bad := func(what string, g int64) error {
		return fmt.Errorf("the probe's readings of transition %d's %s contradict themselves", g, what)
	}
	for g := from; g <= last.Gen; g++ {
		var in []reading // readings taken while transition g was open
		for _, r := range rs {
			if r.k.Gen == g && r.k.Open {
				in = append(in, r)
			}
		}
		goal, ok := startGoal(rs, in, g)
		if !ok {
			goal = wire.StateUndefined
		}
		over := func(k wire.KLPReading) bool { return k.Gen > g || (k.Gen == g && k.Inited == g && !k.Open) }
		s0, _, ok1 := window(rs, func(k wire.KLPReading) bool { return k.Gen >= g })
		_, s1, ok2 := window(rs, func(k wire.KLPReading) bool { return k.Started >= g || over(k) })
		c0, c1, ok3 := window(rs, over)
		if !ok1 || !ok2 || !ok3 {
			return nil, bad("begin, start or end", g)
		}
		kind := wire.OpDisable
		if goal != wire.StateUnpatched {
			kind = wire.OpEnable
		}
		s0 = max(s0, rs[0].lo-1) // begun before the first reading: judged from it
		ops = append(ops, wire.Op{Kind: kind, Goal: goal, T0: s0, T1: s1, Derived: true})
		// Reversals and forces begun while g was open, in the order they
		// began (each holds klp_mutex throughout).
		var moves []wire.Op
		for _, m := range []struct {
			kind            string
			begun, returned func(wire.KLPReading) int64
		}{
			{wire.OpReverse, func(k wire.KLPReading) int64 { return k.Rev }, func(k wire.KLPReading) int64 { return k.Reversed }},
			{wire.OpForce, func(k wire.KLPReading) int64 { return k.Force }, func(k wire.KLPReading) int64 { return k.Forced }},
		} {
			n0, n1 := countsDuring(rs, g, m.begun)
			for n := n0 + 1; n <= n1; n++ {
				a, _, ok1 := window(rs, func(k wire.KLPReading) bool { return m.begun(k) >= n })
				_, b, ok2 := window(rs, func(k wire.KLPReading) bool { return m.returned(k) >= n })
				if !ok1 || !ok2 {
					return nil, bad(m.kind, g)
				}
				moves = append(moves, wire.Op{Kind: m.kind, T0: max(a, s0), T1: min(b, c1), Derived: true})
			}
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
				t0 = in[i-1].lo
			}
			goal = end
			ops = append(ops, wire.Op{Kind: wire.OpReverse, Goal: goal, T0: t0, T1: in[i].hi, Derived: true})
		}
		if c1 == math.MaxInt64 {
			continue // still open when the case ended: end-state says so
		}
		ops = append(ops, wire.Op{Kind: wire.OpComplete, Goal: goal, T0: max(c0, s0), T1: c1, Derived: true})
	}
	// In the order the steps happened (transitions one at a time, each
	// step of one after the one before), which a sort by the windows'
	// starts would not keep where windows overlap.
	return ops, nil
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
	good := trusted(rs)
	if len(good) == 0 {
		if r := ct.Kselftest; r == nil || r.Exit != wire.KselftestSkip {
			add(rule.Violation{Rule: rule.Coverage, Msg: "could not judge the script: every reading of the transition's state was taken while the probe's counters were not counting"})
		}
		return
	}
	ops, err := derivedOps(good)
	if err != nil {
		add(rule.Violation{Rule: rule.Coverage, Msg: "could not judge the script's transitions: " + err.Error()})
		return
	}
	// A script that began no transition (test-shadow-vars.sh) is one
	// stable stretch, judged as such: no task may be seen in a
	// transition's state, nor a child forked into one.
	d := *ct
	d.Ops = ops
	m := buildModel(&d, add)
	// Judged: the probe's snapshots that no blind stretch overlaps, and,
	// of those the model holds to a stable stretch, only those that read
	// none open.
	spans := blindSpans(rs)
	d.Snapshots = nil
	for _, s := range probeSnaps(ct) {
		blind := false
		for _, b := range spans {
			blind = blind || (s.T1 >= b[0] && s.T0 <= b[1])
		}
		if _, stable := m.stableAt(s.T0, s.T1); blind || stable && (s.Before == nil || s.Before.Open || s.After.Open) {
			continue
		}
		d.Snapshots = append(d.Snapshots, s)
	}
	checkSnapshots(&d, m, col)
	checkForks(&d, m, col)
	checkEnd(&d, m, c, add)
}
