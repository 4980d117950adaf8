package cases

import (
	"fmt"
	"strings"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// Helpers for the cases' scripts and their own checks: pure functions.

// Step sequences the cases share: apply the patch and see it applied; take
// it off, see it gone, and remove its module.
var (
	patchSteps   = []Step{{Do: DoEnable}, {Do: DoWait}, {Do: DoSettle}}
	unpatchSteps = []Step{{Do: DoDisable}, {Do: DoWait}, {Do: DoSettle}, {Do: DoUnload}}
)

// seq concatenates step sequences.
func seq(parts ...[]Step) []Step {
	var out []Step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// heldAsleep checks that the parked task name never reached state from the
// start of the first op of kind until its release, and returns its record.
func heldAsleep(ct *wire.CaseTrace, name, kind string, state int, out *[]rule.Violation) *wire.ParkResult {
	p := findParked(ct, name, out)
	from, ok1 := nth(ct, kind, 0)
	if !ok1 {
		return p
	}
	for _, o := range ct.OpsOf(wire.OpRelease) {
		if o.Park == name {
			expectNeverAt(ct, p, state, from, o, out)
			break
		}
	}
	return p
}

func findParked(ct *wire.CaseTrace, name string, out *[]rule.Violation) *wire.ParkResult {
	p := ct.ParkedTask(name)
	if p == nil {
		*out = append(*out, rule.Violation{Rule: rule.Parked, Task: name, Msg: "no record of the parked task: it was never released"})
	}
	return p
}

// opIndex returns the first finished op of kind with the given park name
// ("" for any), or -1.
func opIndex(ct *wire.CaseTrace, kind, park string, from int) int {
	for i := from; i < len(ct.Ops); i++ {
		o := ct.Ops[i]
		if o.Kind == kind && !o.InProgress && (park == "" || o.Park == park) {
			return i
		}
	}
	return -1
}

// expectOrder checks that ops of the given kinds (KIND or KIND:PARK)
// happened in this order, each after the previous.
func expectOrder(ct *wire.CaseTrace, out *[]rule.Violation, kinds ...string) {
	at := 0
	for _, k := range kinds {
		kind, park, _ := strings.Cut(k, ":")
		i := opIndex(ct, kind, park, at)
		if i < 0 {
			*out = append(*out, rule.Violation{Rule: rule.Steps, Msg: fmt.Sprintf("no %s after the steps before it (want %s)", k, strings.Join(kinds, " → "))})
			return
		}
		at = i + 1
	}
}

// statesOf returns the states the probe saw of task tid in [from, to].
func statesOf(ct *wire.CaseTrace, tid int, from, to int64) map[int]int64 {
	seen := map[int]int64{}
	for _, s := range ct.Snapshots {
		if s.Source != wire.SourceProbe || s.T0 < from || s.T1 > to {
			continue
		}
		for _, t := range s.Tasks {
			if t.PID == tid && !t.Idle {
				if _, ok := seen[t.State]; !ok {
					seen[t.State] = s.T0
				}
			}
		}
	}
	return seen
}

// expectParked checks a parked task's record once released.
func expectParked(p *wire.ParkResult, version int, restarted bool, out *[]rule.Violation) {
	if p == nil {
		return
	}
	name := fmt.Sprintf("%s[%d]", p.Name, p.TID)
	if !p.Alive || p.Err != "" {
		*out = append(*out, rule.Violation{Rule: rule.Parked, Task: name, T: p.T1, Msg: fmt.Sprintf("did not come back cleanly: alive=%v err=%q", p.Alive, p.Err)})
	}
	if p.Version != version {
		*out = append(*out, rule.Violation{Rule: rule.Parked, Task: name, T: p.T1, Msg: fmt.Sprintf("returned from the %s klpt_park_func(); want the %s one", versionWord(p.Version), versionWord(version))})
	}
	if !p.Kthread {
		if restarted && p.Entries < 2 {
			*out = append(*out, rule.Violation{Rule: rule.Parked, Task: name, T: p.T1, Msg: fmt.Sprintf("its syscall was entered %d time(s); the fake signal must restart it", p.Entries)})
		}
		if !restarted && p.Entries != 1 {
			*out = append(*out, rule.Violation{Rule: rule.Parked, Task: name, T: p.T1, Msg: fmt.Sprintf("its syscall was entered %d times; nothing should have interrupted it", p.Entries)})
		}
	}
}

func versionWord(v int) string {
	switch v {
	case wire.VersionOld:
		return "old"
	case wire.VersionNew:
		return "new"
	}
	return fmt.Sprintf("version-%d", v)
}

// expectNeverAt checks that the parked task never reached state from the
// start of one op to the start of another: the probe never saw it there,
// and no transition to state completed meanwhile. A completion is the
// kernel's word that every task reached the goal (klp_try_complete_transition()
// completes only once none is left behind), this one too, however briefly
// before klp_complete_transition() reset it: a kernel that switches a task
// at an unsafe point and completes in the same pass shows no probe the
// switched state.
func expectNeverAt(ct *wire.CaseTrace, p *wire.ParkResult, state int, from, to wire.Op, out *[]rule.Violation) {
	if p == nil {
		return
	}
	name := fmt.Sprintf("%s[%d]", p.Name, p.TID)
	if t, ok := statesOf(ct, p.TID, from.T0, to.T0)[state]; ok {
		*out = append(*out, rule.Violation{Rule: rule.Parked, Task: name, T: t,
			Msg: fmt.Sprintf("reached state %d while asleep in klpt_park_func(), between %s and %s", state, from.Kind, to.Kind)})
	}
	for _, o := range ct.OpsOf(wire.OpComplete) {
		if o.Goal == state && o.T1 > from.T0 && o.T0 < to.T0 {
			*out = append(*out, rule.Violation{Rule: rule.Parked, Task: name, T: o.T0,
				Msg: fmt.Sprintf("a transition to %d completed while it slept in klpt_park_func(), between %s and %s: it was switched there", state, from.Kind, to.Kind)})
		}
	}
}

// expectLog checks that the case's kernel log has a line containing s.
func expectLog(tr *wire.Trace, ct *wire.CaseTrace, s string, out *[]rule.Violation) {
	for _, l := range tr.Kmsg {
		if l.Case == ct.Name && strings.Contains(l.Msg, s) {
			return
		}
	}
	*out = append(*out, rule.Violation{Rule: rule.Fallback, Msg: fmt.Sprintf("the kernel never logged %q", s)})
}

// nth returns the n-th finished op of kind, if any.
func nth(ct *wire.CaseTrace, kind string, n int) (wire.Op, bool) {
	ops := ct.OpsOf(kind)
	if n < len(ops) {
		return ops[n], true
	}
	return wire.Op{}, false
}

// expectNoCalls checks that no worker's call began in (from, to) and
// returned version: the replaced patch's functions, which no task may
// reach once its replace completed.
func expectNoCalls(ct *wire.CaseTrace, version int, from, to int64, out *[]rule.Violation) {
	for _, g := range ct.Calls {
		if g.T0 > from && g.T1 < to && g.Version == version {
			*out = append(*out, rule.Violation{Rule: rule.Replace, Task: fmt.Sprintf("worker[%d]", g.TID), T: g.T0,
				Msg: fmt.Sprintf("%d calls reached the replaced patch's function", g.N)})
		}
	}
}

// opAt returns the first finished op of kind for the parked task park, or
// nil.
func opAt(ct *wire.CaseTrace, kind, park string) *wire.Op {
	if i := opIndex(ct, kind, park, 0); i >= 0 {
		return &ct.Ops[i]
	}
	return nil
}
