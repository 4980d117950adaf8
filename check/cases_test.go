package check

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// Every recorded trace comes from a real run on a correct kernel: every
// case in it keeps every rule, the shared ones and its own.
func TestRecordedSuitePasses(t *testing.T) {
	for _, name := range []string{"reverse-debian-6.12.json.gz", "fallback-debian-6.12.json.gz", "force-debian-6.12.json.gz",
		"forkstorm-debian-6.12.json.gz", "replace-debian-6.1.json.gz", "forkrace-debian-6.12.json.gz",
		"stacked-debian-6.12.json.gz", "replaceforce-debian-6.12.json.gz", "nops-debian-6.12.json.gz",
		"idle-debian-6.12.json.gz"} {
		tr := load(t, name)
		for _, ct := range tr.Cases {
			c, err := cases.Lookup([]string{ct.Name})
			if err != nil {
				t.Fatal(err)
			}
			if vs := Case(tr, ct, c[0]); len(vs) != 0 {
				t.Errorf("%s, case %s: a correct kernel's trace broke rules:\n%v", name, ct.Name, vs)
			}
		}
	}
}

func caseIn(tr *wire.Trace, name string) *wire.CaseTrace {
	for _, ct := range tr.Cases {
		if ct.Name == name {
			return ct
		}
	}
	panic("no case " + name)
}

// setState sets task tid's state in the probe snapshots wholly inside
// (from, to), from the first on or, with last, in the last only.
func setState(ct *wire.CaseTrace, tid int, from, to int64, state int, last bool) {
	ps := probes(ct, from, to)
	if last {
		ps = ps[len(ps)-1:]
	}
	for _, s := range ps {
		for i := range s.Tasks {
			if s.Tasks[i].PID == tid && !s.Tasks[i].Idle {
				s.Tasks[i].State = state
			}
		}
	}
}

// Each case's own rules, and the shared rules on the situations only these
// cases create, fire on an edited real trace.
func TestCaseRules(t *testing.T) {
	tests := []struct {
		file, caseName string
		rule           rule.Name
		mutate         func(tr *wire.Trace, ct *wire.CaseTrace)
	}{
		{"reverse-debian-6.12.json.gz", "reverse-patch", rule.Monotonic, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// After the flip to unpatched, a task goes 0 -> 1: backwards.
			rev, done := op(ct, wire.OpReverse, 0), op(ct, wire.OpComplete, 0)
			ps := probes(ct, rev.T1, done.T0)
			tid := 0
			for _, t := range ps[0].Tasks {
				if t.Comm == "kthreadd" {
					tid = t.PID
				}
			}
			setState(ct, tid, rev.T1, ps[1].T0, wire.StateUnpatched, false)
			setState(ct, tid, ps[1].T0-1, done.T0, wire.StatePatched, false)
		}},
		{"reverse-debian-6.12.json.gz", "reverse-patch", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// The task asleep in the old function shows as switched.
			rev, done := op(ct, wire.OpReverse, 0), op(ct, wire.OpComplete, 0)
			setState(ct, ct.Parked[0].TID, rev.T1, done.T0, wire.StatePatched, true)
		}},
		{"reverse-debian-6.12.json.gz", "reverse-unpatch", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Parked[0].Version = wire.VersionOld
		}},
		{"reverse-debian-6.12.json.gz", "double-reverse", rule.Steps, func(tr *wire.Trace, ct *wire.CaseTrace) {
			var keep []wire.Op
			n := 0
			for _, o := range ct.Ops {
				if o.Kind == wire.OpReverse {
					if n++; n == 2 {
						continue
					}
				}
				keep = append(keep, o)
			}
			ct.Ops = keep
		}},
		{"fallback-debian-6.12.json.gz", "signal", rule.Fallback, func(tr *wire.Trace, ct *wire.CaseTrace) {
			for i := range tr.Kmsg {
				tr.Kmsg[i].Msg = strings.ReplaceAll(tr.Kmsg[i].Msg, "signaling remaining tasks", "")
			}
		}},
		{"fallback-debian-6.12.json.gz", "signal", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Parked[0].Entries = 1 // never restarted
		}},
		{"fallback-debian-6.12.json.gz", "signal", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// tr-signals-pending-inverted: the task at the goal is signalled.
			ct.ParkedTask("B").Entries = 2
		}},
		{"fallback-debian-6.12.json.gz", "signal", rule.Coverage, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// A switched (so was signalled) before B slept: B's one entry
			// then proves nothing.
			a, parkB, done := ct.ParkedTask("A"), op(ct, wire.OpPark, 1), op(ct, wire.OpComplete, 0)
			setState(ct, a.TID, parkB.T0, done.T1, wire.StatePatched, false)
		}},
		{"fallback-debian-6.12.json.gz", "kthread", rule.Fallback, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Parked[0].Wakes = 0
		}},
		{"force-debian-6.12.json.gz", "force", rule.Steps, func(tr *wire.Trace, ct *wire.CaseTrace) {
			dropOps(ct, wire.OpBusy)
		}},
		{"forkstorm-debian-6.12.json.gz", "fork-storm", rule.Fork, func(tr *wire.Trace, ct *wire.CaseTrace) {
			f := &ct.Forks[len(ct.Forks)/2]
			f.CPending = !f.PPending // the seed thread's bug: a flag not inherited
		}},
		{"forkstorm-debian-6.12.json.gz", "fork-storm", rule.Fork, func(tr *wire.Trace, ct *wire.CaseTrace) {
			f := &ct.Forks[len(ct.Forks)/2]
			f.CState = wire.StateUndefined
		}},
		{"forkstorm-debian-6.12.json.gz", "fork-storm", rule.Steps, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Forks = ct.Forks[:10] // the probe missed the storm
		}},
		{"forkrace-debian-6.12.json.gz", "fork-race", rule.Fork, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// The kernel before the 2022 fix: a child keeps the flag its
			// task_struct was copied with, after its parent lost it.
			for i := range ct.Forks {
				if f := &ct.Forks[i]; f.CopiedPending && !f.PPending {
					f.CPending = f.CopiedPending
					return
				}
			}
			panic("no fork whose parent lost the flag mid-fork")
		}},
		{"forkrace-debian-6.12.json.gz", "fork-race", rule.Coverage, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// A probe that did not record the copy cannot tell a straddle.
			for i := range ct.Forks {
				ct.Forks[i].Copied = false
			}
		}},
		{"forkrace-debian-6.12.json.gz", "fork-race", rule.Coverage, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// No fork from a pending parent (and so none inherited a flag).
			for i := range ct.Forks {
				ct.Forks[i].PPending, ct.Forks[i].CPending, ct.Forks[i].CopiedPending = false, false, false
			}
		}},
		{"replace-debian-6.1.json.gz", "replace", rule.Sysfs, func(tr *wire.Trace, ct *wire.CaseTrace) {
			firstSysfs(ct).Counts["klpt_patch.enabled"] = 0 // A not freed
		}},
		{"replace-debian-6.1.json.gz", "replace", rule.Replace, func(tr *wire.Trace, ct *wire.CaseTrace) {
			callAfter(ct, op(ct, wire.OpComplete, 1).T1, 3).Version = 2 // B's call answered by A
		}},
		{"stacked-debian-6.12.json.gz", "stacked-held", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// tr-stack-func-prev-self: the stacked patch's stack check
			// looks for its own function, misses A asleep in the one
			// below, and switches it.
			en, rev := op(ct, wire.OpEnable, 1), op(ct, wire.OpReverse, 0)
			setState(ct, ct.Parked[0].TID, en.T1, rev.T0, wire.StatePatched, true)
		}},
		{"stacked-debian-6.12.json.gz", "stacked-held", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// The same during the replace's transition.
			en, rev := op(ct, wire.OpEnable, 2), op(ct, wire.OpReverse, 1)
			setState(ct, ct.Parked[0].TID, en.T1, rev.T0, wire.StatePatched, true)
		}},
		{"stacked-debian-6.12.json.gz", "stacked-held", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// The same, switched and completed in one pass, as the real
			// tr-stack-func-prev-self does: no probe sees A at 1, the
			// agent's wait for the stall sees the transition complete.
			for i := range ct.Ops {
				if ct.Ops[i].Kind == wire.OpStall {
					ct.Ops[i].Kind = wire.OpComplete
					return
				}
			}
		}},
		{"stacked-debian-6.12.json.gz", "stacked-held", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Parked[0].Version = 4 // returned from the stacked patch's function
		}},
		{"stacked-debian-6.12.json.gz", "stacked-held", rule.Sysfs, func(tr *wire.Trace, ct *wire.CaseTrace) {
			firstSysfs(ct).Counts["klpt_patch.enabled"] = 0 // the reversed replace took what it replaced with it
		}},
		{"replaceforce-debian-6.12.json.gz", "replace-force", rule.Steps, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// tr-force-replace-not-forced: the replaced patch's module
			// could be removed, so no unload-busy op was recorded.
			dropOps(ct, wire.OpBusy)
		}},
		{"replaceforce-debian-6.12.json.gz", "replace-force", rule.Sysfs, func(tr *wire.Trace, ct *wire.CaseTrace) {
			firstSysfs(ct).Counts["klpt_patch.enabled"] = 1 // the replaced patch still listed
		}},
		{"replaceforce-debian-6.12.json.gz", "replace-force", rule.Replace, func(tr *wire.Trace, ct *wire.CaseTrace) {
			callAfter(ct, op(ct, wire.OpComplete, 1).T1, 3).Version = 2 // B's call answered by A
		}},
		{"replaceforce-debian-6.12.json.gz", "replace-force", rule.Parked, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Parked[0].Version = 3 // woke in B's function, not in the one it slept in
		}},
		// pa-handler-nop-ignored: at 1 a nop'd function runs the replaced
		// patch's code instead of the original.
		{"nops-debian-6.12.json.gz", "nops", rule.Consistent, func(tr *wire.Trace, ct *wire.CaseTrace) {
			nopCallAt1(ct).Version = 2
		}},
		// The same in a chain: a kept outer function (v5) into a nop'd
		// inner one that ran the replaced patch's (v2), not the original.
		{"nops-debian-6.12.json.gz", "nops", rule.Chain, func(tr *wire.Trace, ct *wire.CaseTrace) {
			nopChainAt1(ct).Versions[1] = 2
		}},
		// No call through a nop at 1: the case could not test.
		{"nops-debian-6.12.json.gz", "nops", rule.Coverage, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Calls = slices.DeleteFunc(ct.Calls, func(g wire.CallGroup) bool { return g.Target == "klpt_target3" })
		}},
		{"replace-debian-6.1.json.gz", "module-coming", rule.Steps, func(tr *wire.Trace, ct *wire.CaseTrace) {
			var keep []wire.CallGroup
			for _, g := range ct.Calls {
				if g.Target == "" {
					keep = append(keep, g)
				}
			}
			ct.Calls = keep
		}},
	}
	for _, tt := range tests {
		t.Run(tt.caseName+"/"+string(tt.rule), func(t *testing.T) {
			t.Parallel() // each judges a whole trace: seconds
			tr := load(t, tt.file)
			ct := caseIn(tr, tt.caseName)
			tt.mutate(tr, ct)
			c, _ := cases.Lookup([]string{tt.caseName})
			if got := rules(Case(tr, ct, c[0])); got[tt.rule] == 0 {
				t.Errorf("rule %s did not fire; got %v", tt.rule, got)
			}
		})
	}
}

// The agent's stop condition for the fork-race rounds and the host's
// check agree on a recorded run: met at the end, its counts over
// cases.ForkRaceN; not met on the forks of the first rounds alone.
func TestForkRaceUntil(t *testing.T) {
	tr := load(t, "forkrace-debian-6.12.json.gz")
	ct := caseIn(tr, "fork-race")
	met := cases.Untils[cases.UntilForkRaces]
	if !met(ct.Ops, ct.Forks, cases.ForkRaceWantSeconds*time.Second) {
		t.Fatalf("the recorded run's forks (%v) do not meet the condition it stopped on", wire.ForkRaces(ct.Ops, ct.Forks))
	}
	rep := op(ct, wire.OpRepeat, 0)
	if rep.Counts["met"] != 1 || rep.Counts["rounds"] < 2 {
		t.Fatalf("repeat op %+v: want the condition met after rounds", rep)
	}
	// The forks of the repeat's first round or so only.
	var early []wire.ForkEvent
	for _, f := range ct.Forks {
		if f.T < rep.T0+(rep.T1-rep.T0)/int64(rep.Counts["rounds"]) {
			early = append(early, f)
		}
	}
	if met(ct.Ops, early, cases.ForkRaceWantSeconds*time.Second) {
		t.Errorf("met on the first round's %d forks (%v); the case would stop before it had %d of each", len(early), wire.ForkRaces(ct.Ops, early), cases.ForkRaceN)
	}
}

// firstSysfs returns the case's first sysfs op.
func firstSysfs(ct *wire.CaseTrace) *wire.Op {
	for i := range ct.Ops {
		if ct.Ops[i].Kind == wire.OpSysfs {
			return &ct.Ops[i]
		}
	}
	panic("no sysfs op")
}

// callAfter returns the first call group begun after t that returned
// version.
func callAfter(ct *wire.CaseTrace, t int64, version int) *wire.CallGroup {
	for i := range ct.Calls {
		if ct.Calls[i].T0 > t && ct.Calls[i].Version == version {
			return &ct.Calls[i]
		}
	}
	panic(fmt.Sprintf("no call of version %d after %d", version, t))
}

// nopCallAt1 is a call into klpt_target3 (every function nop'd by
// klpt_patch4) at state 1 during klpt_patch4's first transition.
func nopCallAt1(ct *wire.CaseTrace) *wire.CallGroup {
	en, done := op(ct, wire.OpEnable, 1), op(ct, wire.OpComplete, 1)
	for i := range ct.Calls {
		if g := &ct.Calls[i]; g.Target == "klpt_target3" && g.Before == 1 && g.After == 1 && g.T0 > en.T1 && g.T1 < done.T0 {
			if g.Version != wire.VersionOld {
				panic(fmt.Sprintf("a call through a nop at 1 ran v%d", g.Version))
			}
			return g
		}
	}
	panic("no call into klpt_target3 at 1 in klpt_patch4's transition")
}

// nopChainAt1 is a klpt_target2 chain (kept outer, nop'd inner) at state 1
// during klpt_patch4's first transition.
func nopChainAt1(ct *wire.CaseTrace) *wire.ChainGroup {
	en, done := op(ct, wire.OpEnable, 1), op(ct, wire.OpComplete, 1)
	for i := range ct.Chains {
		if g := &ct.Chains[i]; g.Target == "klpt_target2" && !g.Cross && g.Before == 1 && g.After == 1 && g.T0 > en.T1 && g.T1 < done.T0 {
			if fmt.Sprint(g.Versions) != "[5 1]" {
				panic(fmt.Sprintf("a kept-outer, nop'd-inner chain at 1 ran %v", g.Versions))
			}
			return g
		}
	}
	panic("no klpt_target2 chain at 1 in klpt_patch4's transition")
}

// dropOps removes the case's ops of kind.
func dropOps(ct *wire.CaseTrace, kind string) {
	ct.Ops = slices.DeleteFunc(ct.Ops, func(o wire.Op) bool { return o.Kind == kind })
}
