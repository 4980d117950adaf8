// Package check owns the consistency-model invariants: pure functions from
// a recorded wire.Trace to the violations it holds (rule.Violation, under
// the rule names of package rule). It does no I/O.
//
// Every rule is stated so that it holds wherever kernel/livepatch/
// transition.c promises it, and nowhere else. The kernel moves tasks between
// phases one at a time, so a snapshot can see a phase half applied; where a
// moment is uncertain the rules rely on the agent's own timestamps (an
// action happened somewhere inside its [T0,T1]) or on an anomaly persisting
// across consecutive snapshots.
package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// PersistNS and PersistSnapshots: a pending-flag anomaly counts only when
// it lasts this long over at least this many consecutive snapshots. The
// kernel clears the flag and writes the state as two separate stores, so a
// single snapshot may fall between them, and a stalled vCPU can hold that
// window open for a while: single-threaded TCG runs each vCPU for up to
// 100 ms before the other's turn, so the bound spans several turns.
const (
	PersistNS        = 400_000_000
	PersistSnapshots = 3
)

// transition is one enable or disable, from the agent's action to the read
// that saw it complete, with the reversals and forces in between.
type transition struct {
	start    wire.Op
	flips    []wire.Op // OpReverse: klp_reverse_transition() flipped the goal
	forces   []wire.Op // OpForce
	end      *wire.Op  // OpComplete, or nil
	timedOut bool
}

// goal is the goal the transition ended with.
func (tr transition) goal() int {
	if n := len(tr.flips); n > 0 {
		return tr.flips[n-1].Goal
	}
	return tr.start.Goal
}

// segment returns which stretch of constant goal [t0,t1] lies in, and the
// op that started it. ok is false when [t0,t1] overlaps a reversal: inside
// one, klp_reverse_transition() clears every flag, then flips the goal and
// sets them again.
func (tr transition) segment(t0, t1 int64) (idx int, start wire.Op, ok bool) {
	start = tr.start
	for i, f := range tr.flips {
		if t1 >= f.T0 && t0 <= f.T1 {
			return 0, start, false
		}
		if t0 > f.T1 {
			idx, start = i+1, f
		}
	}
	return idx, start, true
}

// overlaps says whether [t0,t1] overlaps one of ops' action windows.
func overlaps(ops []wire.Op, t0, t1 int64) bool {
	for _, o := range ops {
		if t1 >= o.T0 && t0 <= o.T1 {
			return true
		}
	}
	return false
}

// stable is a stretch between transitions, with the version of each
// patched function that every task runs in it: version, but for funcs.
type stable struct {
	from, to int64
	version  int
	funcs    map[string]int
}

// versionOf is the version the function key runs in the stretch.
func (s stable) versionOf(key string) int {
	if v, ok := s.funcs[key]; ok {
		return v
	}
	return s.version
}

// set is the versions the functions keys run in the stretch.
func (s stable) set(keys []string) []int {
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = s.versionOf(k)
	}
	return out
}

// want is the version a task at state runs in the function key during the
// transition: its state's, whatever the reversals (they flip the goal, not
// which version a state runs).
func (tr transition) want(key string, state int) int {
	v0, v1 := tr.start.VersionsOf(key)
	if state == wire.StatePatched {
		return v1
	}
	return v0
}

// leavesOuter says whether the transition leaves some chain's outer
// function untouched: one version at both states.
func (tr transition) leavesOuter() bool {
	for _, k := range table.Funcs() {
		if strings.HasSuffix(k, ":"+table.FuncOuter) && tr.untouched(k) {
			return true
		}
	}
	return false
}

// untouched says whether the transition leaves the function key as it is:
// one version at both states.
func (tr transition) untouched(key string) bool {
	v0, v1 := tr.start.VersionsOf(key)
	return v0 == v1
}

// set is the versions a task at state runs in the functions keys.
func (tr transition) set(keys []string, state int) []int {
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = tr.want(k, state)
	}
	return out
}

// model derives the transitions and the stable stretches from the ops.
type model struct {
	trans   []transition
	stables []stable
	// gaps are the windows of the actions the kernel refused: a failed
	// enable may have begun a transition and cancelled it
	// (klp_cancel_transition()), a refused disable or reverse may have
	// got as far as the kernel's checks, so no stretch is stable across
	// one.
	gaps [][2]int64
}

func buildModel(ct *wire.CaseTrace, add func(rule.Violation)) model {
	var m model
	var cur *transition
	for _, op := range ct.Ops {
		switch op.Kind {
		case wire.OpEnable, wire.OpDisable:
			if cur != nil {
				add(rule.Violation{Rule: rule.Trace, T: op.T0, Msg: fmt.Sprintf("%s started while the previous transition was not seen complete", op.Kind)})
			}
			if op.Err != "" {
				m.gaps = append(m.gaps, [2]int64{op.T0, op.T1})
				continue // the kernel refused it; the agent error reports it
			}
			if op.InProgress {
				// The guest died during the action: it may have gone
				// anywhere from T0 on.
				op.T1 = 1<<63 - 1
			}
			m.trans = append(m.trans, transition{start: op})
			cur = &m.trans[len(m.trans)-1]
		case wire.OpReverse, wire.OpForce:
			if cur == nil {
				add(rule.Violation{Rule: rule.Trace, T: op.T0, Msg: op.Kind + " outside a transition"})
				continue
			}
			if op.Err != "" {
				m.gaps = append(m.gaps, [2]int64{op.T0, op.T1})
				continue
			}
			if op.InProgress {
				op.T1 = 1<<63 - 1
			}
			if op.Kind == wire.OpReverse {
				cur.flips = append(cur.flips, op)
			} else {
				cur.forces = append(cur.forces, op)
			}
		case wire.OpComplete, wire.OpTimeout:
			if cur == nil {
				add(rule.Violation{Rule: rule.Trace, T: op.T0, Msg: op.Kind + " without a transition"})
				continue
			}
			o := op
			if op.Kind == wire.OpTimeout {
				// Still open: released after the forensics, it may
				// complete late, and its completion ends it.
				cur.timedOut = true
				continue
			}
			cur.end = &o
			cur = nil
		}
	}
	// Stable stretches: before the first transition unpatched, then after
	// each completed one, its goal, until the next one starts.
	st := stable{from: -1 << 63, version: wire.VersionOld}
	for _, tr := range m.trans {
		st.to = tr.start.T0
		m.stables = append(m.stables, st)
		if tr.end == nil {
			return m
		}
		g := tr.goal()
		v0, v1 := tr.start.Versions()
		st = stable{from: tr.end.T1, version: v0}
		if g == wire.StatePatched {
			st.version = v1
		}
		for _, f := range tr.start.Funcs {
			if st.funcs == nil {
				st.funcs = map[string]int{}
			}
			st.funcs[f.Func] = tr.want(f.Func, g)
		}
	}
	st.to = 1<<63 - 1
	m.stables = append(m.stables, st)
	return m
}

// stableAt returns the stable stretch that holds [t0,t1] entirely, if any;
// none holds a stretch that overlaps a refused action's window.
func (m model) stableAt(t0, t1 int64) (stable, bool) {
	for _, g := range m.gaps {
		if t1 >= g[0] && t0 <= g[1] {
			return stable{}, false
		}
	}
	for _, s := range m.stables {
		if t0 > s.from && t1 < s.to {
			return s, true
		}
	}
	return stable{}, false
}

// transitionFor returns the transition whose span, from the start of the
// action to the end of the read that saw it complete, [t0,t1] overlaps. A
// stretch that overlaps two spans belongs to neither: a snapshot's pass can
// last long when its vCPU is paused (under TCG for 100 ms and more), and
// then read some tasks before one transition completed and others after the
// next one began.
func (m model) transitionFor(t0, t1 int64) (transition, int, bool) {
	found := -1
	for i, tr := range m.trans {
		end := int64(1<<63 - 1)
		if tr.end != nil {
			end = tr.end.T1
		}
		if t1 > tr.start.T0 && t0 < end {
			if found >= 0 {
				return transition{}, -1, false
			}
			found = i
		}
	}
	if found < 0 {
		return transition{}, -1, false
	}
	return m.trans[found], found, true
}

// collector gathers violations, keeping the first of each (rule, task,
// scope) and counting the rest, so that one broken task does not bury
// the others.
type collector struct {
	caseName string
	order    []string
	first    map[string]*rule.Violation
	more     map[string]int
}

func (c *collector) add(v rule.Violation, scope string) {
	v.Case = c.caseName
	k := string(v.Rule) + "\x00" + v.Task + "\x00" + scope
	if _, ok := c.first[k]; ok {
		c.more[k]++
		return
	}
	c.first[k] = &v
	c.order = append(c.order, k)
}

func (c *collector) result() []rule.Violation {
	var out []rule.Violation
	for _, k := range c.order {
		v := *c.first[k]
		v.More = c.more[k]
		out = append(out, v)
	}
	return out
}

// Policy says which of the rules about the kernel's health apply, beyond
// the consistency model's own.
type Policy struct {
	KernelLog bool // WARNING, BUG, Oops, lockdep, KASAN, hung task, RCU stall... fail the case
	Taint     bool // a taint other than O, E, K fails the case
}

// Strict is the default: anything unexpected in the kernel log, or any
// unexpected taint, fails the case.
var Strict = Policy{KernelLog: true, Taint: true}

// Case checks one case of a trace against every rule under Strict, and
// returns all violations, none when it passes.
func Case(tr *wire.Trace, ct *wire.CaseTrace, c cases.Case) []rule.Violation {
	return CaseWith(Strict, tr, ct, c)
}

// CaseWith checks one case under policy p.
func CaseWith(p Policy, tr *wire.Trace, ct *wire.CaseTrace, c cases.Case) []rule.Violation {
	col := &collector{caseName: ct.Name, first: map[string]*rule.Violation{}, more: map[string]int{}}
	// Rules checked once per case keep every distinct text.
	add := func(v rule.Violation) { col.add(v, v.Text()) }
	m := buildModel(ct, add)

	for _, e := range ct.Errors {
		add(rule.Violation{Rule: rule.Agent, Msg: e})
	}
	if ct.End == nil {
		// A runner that knows how the VM ended replaces the reason.
		add(rule.Violation{Rule: rule.Trace, Msg: "the case did not finish", CutShort: "no case-end event"})
	}
	// A kernel selftest drives its own transitions: the probe's readings
	// of the transition's state give them (derivedOps), and the rules on
	// task states judge them beside the script's own verdict.
	switch {
	case c.Kselftest != "":
		checkDerived(ct, c, col, add)
	case ct.Skipped() != "":
		// A require step found the kernel without what the case
		// tests, before any of it ran: the kernel's health is all
		// there is to judge.
	default:
		checkCoverage(tr, ct, c, m, add)
		checkSnapshots(ct, m, col)
		checkReadings(ct, m, add)
		checkCalls(ct, m, col)
		checkChains(ct, m, col)
		checkSwitches(ct, m, col)
		checkForks(ct, m, col)
		checkWakes(ct, c, add)
		checkTries(tr, ct, c, add)
		checkEnd(ct, m, c, add)
		checkVmlinux(ct, m, add)
	}
	checkKernelLog(tr, ct, p, add)
	checkTaint(tr, ct, p, add)
	if c.Check != nil {
		for _, v := range c.Check(tr, ct) {
			add(v)
		}
	}
	return col.result()
}

// checkCoverage fails a case that observed too little to judge: a check
// that saw nothing must not pass.
func checkCoverage(tr *wire.Trace, ct *wire.CaseTrace, c cases.Case, m model, add func(rule.Violation)) {
	if len(m.trans) == 0 {
		add(rule.Violation{Rule: rule.Trace, Msg: "no transition was started"})
	}
	var probe, proc int
	for _, s := range ct.Snapshots {
		switch s.Source {
		case wire.SourceProbe:
			probe++
			if tr.Hello != nil {
				idle := 0
				for _, t := range s.Tasks {
					if t.Idle {
						idle++
					}
				}
				if idle < tr.Hello.CPUs {
					add(rule.Violation{Rule: rule.Trace, T: s.T0, Msg: fmt.Sprintf("probe snapshot holds %d idle tasks, the guest has %d CPUs", idle, tr.Hello.CPUs)})
				}
			}
		case wire.SourceProc:
			proc++
		}
	}
	if probe == 0 {
		add(rule.Violation{Rule: rule.Trace, Msg: "no probe snapshot recorded"})
	}
	if proc == 0 {
		add(rule.Violation{Rule: rule.Trace, Msg: "no /proc snapshot recorded"})
	}
	// Workers report their calls as the case ends: a case cut short has
	// its own violation already.
	if len(ct.Calls) == 0 && ct.End != nil && !c.Quiet {
		add(rule.Violation{Rule: rule.Trace, Msg: "no worker call recorded"})
	}
}

type seen struct {
	state   int
	rank    int
	t       int64
	anomaly string // pending-flag anomaly in progress
	since   int64
	count   int
}

// rank orders the states a task passes through in one transition towards
// goal: -1 before klp_init_transition() reaches it, the initial state, the
// goal, then -1 again as klp_complete_transition() resets it. A -1 seen
// after the action returned is the second kind (init ran inside the
// action); one seen during the action is the first kind unless the task
// was already seen at 0 or 1.
func rank(state, goal int, prev *seen, afterInit bool) int {
	switch state {
	case 1 - goal:
		return 1
	case goal:
		return 2
	case wire.StateUndefined:
		if !afterInit && (prev == nil || prev.rank == 0) {
			return 0
		}
		return 3
	}
	return -1
}

func stateName(s int) string {
	switch s {
	case wire.StateUndefined:
		return "-1 (no transition)"
	case wire.StateUnpatched:
		return "0 (unpatched)"
	case wire.StatePatched:
		return "1 (patched)"
	}
	return fmt.Sprintf("%d (invalid)", s)
}

func checkSnapshots(ct *wire.CaseTrace, m model, col *collector) {
	// Per source and transition, the last state seen of each task.
	last := map[string]map[string]*seen{}
	snaps := append([]wire.Snapshot(nil), ct.Snapshots...)
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].T0 < snaps[j].T0 })
	for _, s := range snaps {
		if _, ok := m.stableAt(s.T0, s.T1); ok {
			for _, t := range s.Tasks {
				if t.State != wire.StateUndefined {
					col.add(rule.Violation{Rule: rule.Outside, Task: t.Name(), T: s.T0,
						Msg: fmt.Sprintf("state %s between transitions (%s snapshot); want -1", stateName(t.State), s.Source)}, "")
				}
				if t.Pending != nil && *t.Pending {
					col.add(rule.Violation{Rule: rule.Outside, Task: t.Name(), T: s.T0,
						Msg: "TIF_PATCH_PENDING set between transitions"}, "")
				}
			}
			continue
		}
		tr, idx, ok := m.transitionFor(s.T0, s.T1)
		if !ok {
			continue
		}
		seg, segStart, clean := tr.segment(s.T0, s.T1)
		if !clean {
			continue // mid-reversal: the flags are being cleared and set again
		}
		goal := segStart.Goal
		if goal != wire.StateUnpatched && goal != wire.StatePatched {
			continue // a derived transition that no reading saw the goal of
		}
		// klp_init_transition() and klp_start_transition() both run inside
		// the action (and a reversal's restart inside its own): once it
		// returned, every task has its initial state and, unless at the
		// goal, its pending flag.
		afterInit := s.T0 >= segStart.T1
		scope := fmt.Sprintf("%s/%d/%d", s.Source, idx, seg)
		seenBy := last[scope]
		if seenBy == nil {
			seenBy = map[string]*seen{}
			last[scope] = seenBy
		}
		// The probe reads tasks one by one, in the order it lists them
		// (idle tasks last). A task reset to -1 means completion had
		// begun by then, and completion begins only once every task is at
		// the goal: a task read later at the initial state was left
		// behind. Read earlier, it may simply have switched in between.
		if afterInit && s.Source == wire.SourceProbe {
			undefined := 0
			for _, t := range s.Tasks {
				switch {
				case t.State == wire.StateUndefined:
					undefined++
				case t.State == 1-goal && undefined > 0:
					col.add(rule.Violation{Rule: rule.Completion, Task: t.Name(), T: s.T0, Msg: fmt.Sprintf(
						"read at %s after %d tasks were read already reset to -1: completion began with this task left behind", stateName(t.State), undefined)}, scope)
				}
			}
		}
		for _, t := range s.Tasks {
			p := seenBy[t.Key()]
			r := rank(t.State, goal, p, afterInit)
			if r < 0 {
				col.add(rule.Violation{Rule: rule.Monotonic, Task: t.Name(), T: s.T0, Msg: fmt.Sprintf("invalid state %d during a transition to %s", t.State, stateName(goal))}, scope)
				continue
			}
			if p == nil {
				p = &seen{state: t.State, rank: r, t: s.T0}
				seenBy[t.Key()] = p
			} else if r < p.rank {
				col.add(rule.Violation{Rule: rule.Monotonic, Task: t.Name(), T: s.T0, Msg: fmt.Sprintf(
					"moved from %s (seen at %.6fs) back to %s during the transition to %s", stateName(p.state), float64(p.t)/1e9, stateName(t.State), stateName(goal))}, scope)
			}
			p.state, p.rank, p.t = t.State, r, s.T0
			if t.Pending == nil || !afterInit {
				continue
			}
			var anomaly string
			switch {
			case t.State == 1-goal && !*t.Pending:
				anomaly = fmt.Sprintf("at %s, not the goal %s, without TIF_PATCH_PENDING", stateName(t.State), stateName(goal))
			case t.State == goal && *t.Pending:
				anomaly = fmt.Sprintf("at the goal %s with TIF_PATCH_PENDING still set", stateName(goal))
			}
			if anomaly == "" || anomaly != p.anomaly {
				p.anomaly, p.since, p.count = anomaly, s.T0, 0
			}
			if anomaly != "" {
				p.count++
				if p.count >= PersistSnapshots && s.T0-p.since >= PersistNS {
					col.add(rule.Violation{Rule: rule.Pending, Task: t.Name(), T: p.since, Msg: fmt.Sprintf(
						"%s over %d consecutive snapshots (%.0f ms)", anomaly, p.count, float64(s.T0-p.since)/1e6)}, scope)
				}
			}
		}
	}
}

// checkReadings holds the agent's ops to the kernel's own word: a probe
// snapshot that the ops put between transitions must have read no
// transition open (klp_transition_patch; wire.KLPReading) before or after
// its pass. The agent sees a transition complete when its sysfs
// transition attribute reads 0, which is when klp_transition_patch no
// longer points to it, and klp_complete_transition() clears it last; a
// stable stretch ends where the next action begins, before any of it.
func checkReadings(ct *wire.CaseTrace, m model, add func(rule.Violation)) {
	for _, s := range ct.Snapshots {
		if s.Before == nil || s.After == nil {
			continue
		}
		if _, ok := m.stableAt(s.T0, s.T1); ok && (s.Before.Open || s.After.Open) {
			add(rule.Violation{Rule: rule.Outside, T: s.T0, Msg: fmt.Sprintf(
				"the kernel had a transition open (klp_transition_patch set, goal %d) in a snapshot the case's ops put between transitions",
				max(s.Before.Goal, s.After.Goal))})
			return // one says it; the rest follow from the same ops
		}
	}
}

func versionName(v int) string {
	switch v {
	case wire.VersionOld:
		return "original (v1)"
	case 0:
		return "unknown version"
	}
	return fmt.Sprintf("livepatched v%d", v)
}

func checkCalls(ct *wire.CaseTrace, m model, col *collector) {
	var unsafe []wire.Op // windows where a task's state may change under it
	for _, tr := range m.trans {
		unsafe = append(append(unsafe, tr.flips...), tr.forces...)
	}
	for _, g := range ct.Calls {
		task := fmt.Sprintf("worker[%d]", g.TID)
		if overlaps(unsafe, g.T0, g.T1) {
			// A reversal can move a task a->b->a within one call, and
			// klp_force_transition() rewrites running tasks' states, as
			// its documentation warns.
			continue
		}
		if g.Version < wire.VersionOld {
			col.add(rule.Violation{Rule: rule.Consistent, Task: task, T: g.T0, Msg: versionName(g.Version)}, "")
			continue
		}
		key := table.Key(g.Target, table.FuncCall)
		if tr, _, ok := m.transitionFor(g.T0, g.T1); ok && g.Before == g.After && g.Before != wire.StateUndefined {
			// ftrace picks the version from current->patch_state at entry,
			// which lies between the two reads; equal reads pin it.
			if want := tr.want(key, g.Before); g.Version != want {
				col.add(rule.Violation{Rule: rule.Consistent, Task: task, T: g.T0, Msg: fmt.Sprintf(
					"%d calls with patch_state %s before and after ran the %s version; want %s",
					g.N, stateName(g.Before), versionName(g.Version), versionName(want))}, "")
			}
		}
		if s, ok := m.stableAt(g.T0, g.T1); ok {
			if g.Before != wire.StateUndefined || g.After != wire.StateUndefined {
				col.add(rule.Violation{Rule: rule.Outside, Task: task, T: g.T0, Msg: fmt.Sprintf(
					"patch_state %d/%d around a call between transitions; want -1", g.Before, g.After)}, "")
			} else if want := s.versionOf(key); g.Version != want {
				col.add(rule.Violation{Rule: rule.Consistent, Task: task, T: g.T0, Msg: fmt.Sprintf(
					"%d calls between transitions ran the %s function; the %s one is applied",
					g.N, versionName(g.Version), versionName(want))}, "")
			}
		}
	}
}

func checkEnd(ct *wire.CaseTrace, m model, c cases.Case, add func(rule.Violation)) {
	bound := int64(c.BoundSeconds) * 1e9
	for _, tr := range m.trans {
		goal := stateName(tr.goal())
		if tr.timedOut {
			msg := fmt.Sprintf("the transition to %s did not complete within %ds", goal, c.BoundSeconds)
			for _, f := range ct.Forensics {
				if f.T >= tr.start.T0 && (tr.end == nil || f.T <= tr.end.T0) {
					msg += "; " + ForensicsSummary(f)
					break
				}
			}
			add(rule.Violation{Rule: rule.EndState, T: tr.start.T0, Msg: msg})
			continue
		}
		if tr.end == nil {
			add(rule.Violation{Rule: rule.EndState, T: tr.start.T0, Msg: fmt.Sprintf("the transition to %s was never seen complete", goal)})
			continue
		}
		// A parked task holds a transition open on purpose (fork-storm parks
		// one for the storm's length): the kernel's time runs from its
		// release, the last one before the end.
		from, since := tr.start.T1, "its start"
		for _, o := range ct.Ops {
			if o.Kind == wire.OpRelease && o.Err == "" && o.T1 > from && o.T1 < tr.end.T0 {
				from, since = o.T1, "the release of the task that held it"
			}
		}
		if d := tr.end.T0 - from; bound > 0 && d > bound {
			add(rule.Violation{Rule: rule.EndState, T: tr.start.T0, Msg: fmt.Sprintf("the transition to %s took %.1fs from %s, over the %ds bound", goal, float64(d)/1e9, since, c.BoundSeconds)})
		}
		wantEnabled := 0
		if tr.goal() == wire.StatePatched {
			wantEnabled = 1
		}
		if !tr.end.Derived && (tr.end.Enabled != wantEnabled || tr.end.Transition != 0) {
			add(rule.Violation{Rule: rule.EndState, T: tr.end.T0, Msg: fmt.Sprintf("sysfs reads enabled=%d transition=%d at the end of the transition to %s; want enabled=%d transition=0",
				tr.end.Enabled, tr.end.Transition, goal, wantEnabled)})
		}
	}
}

func checkVmlinux(ct *wire.CaseTrace, m model, add func(rule.Violation)) {
	cmdline := table.Key(table.Vmlinux, table.FuncCmdline)
	seenPatched := false
	for _, r := range ct.Cmdline {
		s, ok := m.stableAt(r.T0, r.T1)
		if !ok {
			continue
		}
		got := r.Version
		if got == 0 { // traces before versions: patched or not
			got = wire.VersionOld
			if r.Patched {
				got = wire.VersionNew
			}
		}
		want := s.versionOf(cmdline)
		seenPatched = seenPatched || want != wire.VersionOld
		if got != want {
			add(rule.Violation{Rule: rule.Vmlinux, T: r.T0, Msg: fmt.Sprintf("/proc/cmdline shows the %s cmdline_proc_show() while the %s one is applied",
				versionName(got), versionName(want))})
		}
	}
	patchedStretch := false
	for _, st := range m.stables {
		patchedStretch = patchedStretch || st.versionOf(cmdline) != wire.VersionOld
	}
	for _, tr := range m.trans {
		if tr.timedOut {
			// The case stopped at the stall: the reads its steps would
			// have made never happened. end-state reports the stall.
			patchedStretch = false
		}
	}
	if !seenPatched && patchedStretch {
		add(rule.Violation{Rule: rule.Vmlinux, Msg: "no /proc/cmdline read while the patch was applied"})
	}
}

// checkForks: klp_copy_process() gives the child its parent's state and
// pending flag under the tasklist write lock, so at the probe's record
// (the function's return, still under the lock) they must be equal.
func checkForks(ct *wire.CaseTrace, m model, col *collector) {
	if ct.ForksDropped > 0 {
		col.add(rule.Violation{Rule: rule.Trace, Msg: fmt.Sprintf("the probe dropped %d fork records: the fork check is incomplete", ct.ForksDropped)}, "forks-dropped")
	}
	for _, f := range ct.Forks {
		child := fmt.Sprintf("child[%d] of [%d]", f.CPID, f.PPID)
		if f.CState != f.PState || f.CPending != f.PPending {
			col.add(rule.Violation{Rule: rule.Fork, Task: child, T: f.T, Msg: fmt.Sprintf(
				"child got state %d pending %v; its parent had state %d pending %v", f.CState, f.CPending, f.PState, f.PPending)}, "")
		}
		if _, ok := m.stableAt(f.T, f.T); ok && (f.PState != wire.StateUndefined || f.PPending) {
			col.add(rule.Violation{Rule: rule.Outside, Task: child, T: f.T, Msg: fmt.Sprintf(
				"forked between transitions from a parent at state %d pending %v", f.PState, f.PPending)}, "")
		}
	}
}

// checkChains holds every call chain (klpt_chain_outer() calling
// klpt_chain_inner(), patched by the same livepatches) to the promise of
// the per-task consistency model: a task runs the whole old set or the
// whole new set of a transition's functions, never a mix within one chain.
//
// Why it holds, from kernel/livepatch/: a task's patch_state changes only
// (1) in klp_try_switch_task() -> klp_check_and_switch_task(), which
// refuses a task running on another CPU and one whose reliable stack
// (klp_check_stack()) holds any function of the transition, old or new:
// inside the chain the outer one is always on the stack; (2) in
// klp_update_patch_state() at the exit to user space or the idle loop,
// never inside the chain's ioctl; (3) in klp_init_transition() and
// klp_complete_transition(), for every task at once, where the functions'
// transition flag is raised before the first switch and dropped only once
// every task is at the goal, so a chain that straddles them still runs one
// set. klp_reverse_transition() only flips the goal and the pending
// flags: it changes no task's state, so, unlike a single call, a chain
// stays bound through a reversal (the task cannot go a->b->a with the
// outer function on its stack). The exception is klp_force_transition(),
// which sets every task's state without a stack check and whose
// documentation says it breaks the consistency model: chains that overlap
// a force are not held to it.
//
// Atomic replace's nops are functions of the transition too: at state 1 a
// nop runs the original, so a replace that leaves out one function of a
// chain has a new set that is not one version (klpt_patch4: its own outer
// function, the original inner). So: the versions along a chain are the
// old set or the new set of the transition it overlaps (each function's
// version at state 0, or at 1, as the agent's ops give them); a chain
// entered and left at the same state ran that state's set; one between
// transitions ran the applied one; and one that straddles two transitions
// ran some set of the case.
func checkChains(ct *wire.CaseTrace, m model, col *collector) {
	var forces []wire.Op
	for _, tr := range m.trans {
		forces = append(forces, tr.forces...)
	}
	for _, g := range ct.Chains {
		task := fmt.Sprintf("chain-worker[%d]", g.TID)
		inner := g.Target
		if g.Cross {
			inner = "klpt_target"
		}
		keys := []string{table.Key(g.Target, table.FuncOuter), table.Key(inner, table.FuncInner)}
		checkChain(task, keys, g.Versions, g.Before, g.After, g.N, g.T0, g.T1, forces, m, col)
	}
	for _, p := range ct.Parked {
		if len(p.Chain) > 0 {
			// Tasks park in klpt_target's chain.
			keys := []string{table.Key("", table.FuncOuter), table.Key("", table.FuncInner)}
			checkChain(fmt.Sprintf("%s[%d]", p.Name, p.TID), keys, p.Chain, p.Before, p.After, 1, p.T0, p.T1, forces, m, col)
		}
	}
}

func checkChain(task string, keys []string, versions []int, before, after, n int, t0, t1 int64, forces []wire.Op, m model, col *collector) {
	if overlaps(forces, t0, t1) {
		return
	}
	if len(versions) != len(keys) {
		col.add(rule.Violation{Rule: rule.Chain, Task: task, T: t0, Msg: fmt.Sprintf(
			"a chain call reported %d function(s) (%v); the chain has %d", len(versions), versions, len(keys))}, "")
		return
	}
	mixed := func(sets ...[]int) {
		names := make([]string, len(sets))
		for i, s := range sets {
			names[i] = chainNames(s)
		}
		slices.Sort(names)
		names = slices.Compact(names)
		col.add(rule.Violation{Rule: rule.Chain, Task: task, T: t0, Msg: fmt.Sprintf(
			"%d chain calls with patch_state %s before and %s after mixed functions: %s (the sets: %s)",
			n, stateName(before), stateName(after), chainNames(versions), strings.Join(names, "; "))}, "")
	}
	if tr, _, ok := m.transitionFor(t0, t1); ok {
		old, new := tr.set(keys, wire.StateUnpatched), tr.set(keys, wire.StatePatched)
		// Bound through a reversal only while its outer function is one
		// of the transition's: in an untouched one, a task may be switched
		// to the reversed goal, call in, and be switched back after.
		bound := !tr.untouched(keys[0]) || !overlaps(tr.flips, t0, t1)
		switch want := tr.set(keys, before); {
		case !slices.Equal(versions, old) && !slices.Equal(versions, new):
			mixed(old, new)
		case bound && before == after && before != wire.StateUndefined && !slices.Equal(versions, want):
			col.add(rule.Violation{Rule: rule.Chain, Task: task, T: t0, Msg: fmt.Sprintf(
				"%d chain calls with patch_state %s before and after ran the %s set; want %s",
				n, stateName(before), setName(versions), setName(want))}, "")
		}
		return
	}
	if s, ok := m.stableAt(t0, t1); ok {
		if want := s.set(keys); !slices.Equal(versions, want) {
			col.add(rule.Violation{Rule: rule.Chain, Task: task, T: t0, Msg: fmt.Sprintf(
				"%d chain calls between transitions ran the %s set; the %s one is applied",
				n, setName(versions), setName(want))}, "")
		}
		return
	}
	var sets [][]int
	for _, tr := range m.trans {
		sets = append(sets, tr.set(keys, wire.StateUnpatched), tr.set(keys, wire.StatePatched))
	}
	if !slices.ContainsFunc(sets, func(s []int) bool { return slices.Equal(s, versions) }) {
		mixed(sets...)
	}
}

// setName names a chain's versions: one version when they are one.
func setName(versions []int) string {
	for _, v := range versions[1:] {
		if v != versions[0] {
			return chainNames(versions)
		}
	}
	return versionName(versions[0])
}

// checkSwitches holds each of the kernel's attempts to switch a task that
// was inside a chain call to the promise klp_check_and_switch_task() keeps:
// a task is switched only where no function of the transition is on its
// stack. Why an attempt on a task inside a chain must be refused, from
// kernel/livepatch/transition.c: every livepatch here patches both the
// chain's functions in every target object, so each is a func of the
// transition, and klp_check_stack() looks, per func, for the version a
// task not yet switched runs (patching: the original, or the previous
// patch's on the func stack; unpatching: the patch's own); a task inside
// the chain has that version's outer function on its stack (its return
// address, or its interrupted address under a preemption), so a sound
// check refuses it (-EADDRINUSE), as the unwinder does a stack it cannot
// walk reliably (-EINVAL), and klp_check_and_switch_task() one running on
// another CPU before any of that (-EBUSY). A task's position in its chain
// is written inside the functions' bodies, after their entry and before
// their return, so a task counted inside one certainly was (see
// wire.SwitchAttempt.InChain). klp_force_transition() switches no task
// through this check, so forced transitions leave nothing to judge here.
// A return of 0 is a task switched with the chain on its stack. That holds
// only where the chain's outer function is one of the transition's (its
// own or a nop): an attempt made during a transition that leaves some
// chain's outer function untouched (the disable of a replace that left
// out an object) is not judged, as the attempt does not say whose chain
// the task was in.
func checkSwitches(ct *wire.CaseTrace, m model, col *collector) {
	if ct.SwitchesDropped > 0 {
		col.add(rule.Violation{Rule: rule.Trace, Msg: fmt.Sprintf("the probe dropped %d switch-attempt records: the unsafe-switch check is incomplete", ct.SwitchesDropped)}, "switches-dropped")
	}
	for _, s := range ct.Switches {
		if !s.InChain() || s.Ret != 0 {
			continue
		}
		if tr, _, ok := m.transitionFor(s.T, s.T); ok && tr.leavesOuter() {
			continue
		}
		how := "asleep"
		switch {
		case s.Self:
			how = "checking itself on its CPU"
		case s.OnCPU:
			how = "running on another CPU"
		case s.Runnable:
			how = "preempted"
		}
		where := "calling or returning"
		switch s.Where {
		case wire.ChainAtSpin:
			where = "spinning in the outer function"
		case wire.ChainAtPark:
			where = "asleep in a parking slot"
		}
		col.add(rule.Violation{Rule: rule.Unsafe, Task: fmt.Sprintf("chain-task[%d]", s.PID), T: s.T, Msg: fmt.Sprintf(
			"switched from state %s by klp_check_and_switch_task() while %s inside its chain (%s; %d of its functions entered, %d returned): a patched function was on its stack",
			stateName(s.State), how, where, s.Entered, s.Returned)}, "")
	}
}

// chainNames names the versions along a chain, outer first.
func chainNames(versions []int) string {
	names := make([]string, len(versions))
	for i, v := range versions {
		names[i] = versionName(v)
	}
	return strings.Join(names, " -> ")
}
