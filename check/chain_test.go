package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// chainTrace is a recorded run of the chain case on a correct kernel.
const chainTrace = "chain-debian-6.12.json.gz"

func chainCase(t *testing.T) cases.Case {
	c, err := cases.Lookup([]string{"chain"})
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

// rulesOf returns the rules that fired, and the violations of one.
func rulesOf(vs []rule.Violation, r rule.Name) (names []rule.Name, of []rule.Violation) {
	for _, v := range vs {
		if !slices.Contains(names, v.Rule) {
			names = append(names, v.Rule)
		}
		if v.Rule == r {
			of = append(of, v)
		}
	}
	return names, of
}

// The recorded chains keep chain-consistency, and were there to test:
// chain groups inside every transition, local and crossing modules, in
// both states, and the parked tasks' chains.
func TestChainRecordedPasses(t *testing.T) {
	tr := load(t, chainTrace)
	ct := caseIn(tr, "chain")
	if vs := Case(tr, ct, chainCase(t)); len(vs) != 0 {
		t.Fatalf("a correct kernel's chain trace broke rules:\n%v", vs)
	}
	var cross, patched, unpatched int
	for _, g := range ct.Chains {
		if g.Cross {
			cross++
		}
		if g.Before == g.After && g.Before == wire.StatePatched {
			patched++
		}
		if g.Before == g.After && g.Before == wire.StateUnpatched {
			unpatched++
		}
	}
	if cross == 0 || patched == 0 || unpatched == 0 {
		t.Errorf("the recorded trace does not hold the chains this test relies on: %d crossing, %d at state 1, %d at state 0", cross, patched, unpatched)
	}
}

// Each way a chain can break the promise fires chain-consistency on an
// edited real trace, naming the task; a force scopes the rule out.
func TestChainRule(t *testing.T) {
	inTransition := func(ct *wire.CaseTrace, state int) *wire.ChainGroup {
		for i := range ct.Chains {
			if g := &ct.Chains[i]; g.Before == state && g.After == state {
				return g
			}
		}
		t.Fatalf("no chain group at state %d", state)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(ct *wire.CaseTrace)
		want   string // in the violation; "" = the rule must not fire
	}{
		{"a chain mixes old and new", func(ct *wire.CaseTrace) {
			g := inTransition(ct, wire.StateUnpatched)
			g.Versions = []int{wire.VersionOld, wire.VersionNew}
		}, "mixed functions: original (v1) -> livepatched v2"},
		{"a crossing chain mixes new and old", func(ct *wire.CaseTrace) {
			for i := range ct.Chains {
				if g := &ct.Chains[i]; g.Cross && g.Versions[0] == wire.VersionNew {
					g.Versions = []int{wire.VersionNew, wire.VersionOld}
					return
				}
			}
			t.Fatal("no crossing chain ran the new set")
		}, "mixed functions: livepatched v2 -> original (v1)"},
		{"a chain at state 1 ran the old set", func(ct *wire.CaseTrace) {
			g := inTransition(ct, wire.StatePatched)
			g.Versions = []int{wire.VersionOld, wire.VersionOld}
		}, "with patch_state 1 (patched) before and after ran the original (v1) set; want livepatched v2"},
		{"a chain between transitions ran the set not applied", func(ct *wire.CaseTrace) {
			for i := range ct.Chains {
				if g := &ct.Chains[i]; g.T1 < ct.Ops[0].T0 || (g.Before == wire.StateUndefined && g.After == wire.StateUndefined) {
					g.Versions = []int{wire.VersionNew, wire.VersionNew}
					return
				}
			}
			t.Fatal("no chain between transitions")
		}, "between transitions ran the livepatched v2 set"},
		{"a task parked in the chain woke into the other set", func(ct *wire.CaseTrace) {
			p := ct.ParkedTask("B")
			p.Chain = []int{wire.VersionOld, wire.VersionNew}
		}, "B["},
		{"a chain cut short", func(ct *wire.CaseTrace) {
			g := inTransition(ct, wire.StatePatched)
			g.Versions = g.Versions[:1]
		}, "reported 1 function(s)"},
		{"force breaks consistency, and scopes the rule out", func(ct *wire.CaseTrace) {
			g := inTransition(ct, wire.StateUnpatched)
			g.Versions = []int{wire.VersionOld, wire.VersionNew}
			// A force written during the chain, inside its transition.
			ct.Ops = append(ct.Ops, wire.Op{Kind: wire.OpForce, T0: g.T0 + 1, T1: g.T0 + 2})
			slices.SortStableFunc(ct.Ops, func(a, b wire.Op) int { return int(a.T0 - b.T0) })
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, chainTrace)
			ct := caseIn(tr, "chain")
			tc.mutate(ct)
			names, of := rulesOf(Case(tr, ct, chainCase(t)), rule.Chain)
			if tc.want == "" {
				if len(of) != 0 {
					t.Errorf("chain-consistency fired: %v", of)
				}
				return
			}
			if len(of) == 0 {
				t.Fatalf("chain-consistency did not fire (rules that did: %v)", names)
			}
			if !strings.Contains(of[0].String(), tc.want) {
				t.Errorf("%s; want %q", of[0].String(), tc.want)
			}
		})
	}
}

// A run whose chains were not there is no pass: it says it could not test.
func TestChainCoverage(t *testing.T) {
	tr := load(t, chainTrace)
	ct := caseIn(tr, "chain")
	ct.Chains = slices.DeleteFunc(ct.Chains, func(g wire.ChainGroup) bool { return g.Cross })
	_, of := rulesOf(Case(tr, ct, chainCase(t)), rule.Coverage)
	if len(of) != 3 || !strings.Contains(of[0].Msg, "0 crossing from klpt_target2") {
		t.Errorf("coverage violations %v; want one for each of the 3 transitions", of)
	}
}

// The recorded run has the kernel trying every kind of chain task in each
// of its four phases, and refusing them all; a switch of a task inside a
// chain fires unsafe-switch, naming the task, and one outside does not.
func TestUnsafeSwitch(t *testing.T) {
	tr := load(t, chainTrace)
	ct := caseIn(tr, "chain")
	phases, counts := wire.ChainPresence(ct.Ops, ct.Switches)
	if len(phases) != 4 {
		t.Fatalf("the recorded run has %d phases; want 4 (enable, reverse, enable, disable)", len(phases))
	}
	for i := range phases {
		for _, k := range wire.ChainKinds {
			if counts[i][k] == 0 {
				t.Errorf("phase %d (%s): no %s attempt in the recorded run: %v", i+1, phases[i].Kind, k, counts[i])
			}
		}
	}
	first := func(ct *wire.CaseTrace, kind string) *wire.SwitchAttempt {
		for i := range ct.Switches {
			if ct.Switches[i].Kind() == kind {
				return &ct.Switches[i]
			}
		}
		t.Fatalf("no %s attempt in the recorded run", kind)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(ct *wire.CaseTrace)
		want   string // in the violation; "" = the rule must not fire
	}{
		{"the recorded run", func(ct *wire.CaseTrace) {}, ""},
		{"a task asleep in the chain switched", func(ct *wire.CaseTrace) {
			first(ct, wire.ChainAsleep).Ret = 0
		}, "while asleep inside its chain (asleep in a parking slot"},
		{"a preempted task switched", func(ct *wire.CaseTrace) {
			first(ct, wire.ChainPreempted).Ret = 0
		}, "while preempted inside its chain (spinning"},
		{"a task running on another CPU switched", func(ct *wire.CaseTrace) {
			first(ct, wire.ChainOnCPU).Ret = 0
		}, "while running on another CPU inside its chain"},
		{"a task that had left its chain switched", func(ct *wire.CaseTrace) {
			s := first(ct, wire.ChainAsleep)
			s.Ret, s.Returned = 0, s.Entered
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, chainTrace)
			ct := caseIn(tr, "chain")
			tc.mutate(ct)
			vs := Case(tr, ct, chainCase(t))
			names, of := rulesOf(vs, rule.Unsafe)
			if tc.want == "" {
				if len(vs) != 0 {
					t.Errorf("rules fired: %v", vs)
				}
				return
			}
			if len(of) == 0 {
				t.Fatalf("unsafe-switch did not fire (rules that did: %v)", names)
			}
			if !strings.Contains(of[0].String(), tc.want) || !strings.HasPrefix(of[0].Task, "chain-task[") {
				t.Errorf("%s; want %q, naming the task", of[0].String(), tc.want)
			}
		})
	}
}

// A phase without one of the kinds, a kernel that cannot be made
// preemptible, or a probe that recorded no attempt: the case could not
// test, and says which.
func TestChainPresenceCoverage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(ct *wire.CaseTrace)
		want   []string // the could-not-test violations, by text
	}{
		{"no task on another CPU in the reverse", func(ct *wire.CaseTrace) {
			ph := wire.Phases(ct.Ops)[1]
			ct.Switches = slices.DeleteFunc(ct.Switches, func(s wire.SwitchAttempt) bool {
				return s.T >= ph.T0 && s.T <= ph.T1 && s.Kind() == wire.ChainOnCPU
			})
		}, []string{"phase 2 (reverse, goal 0)", "and no on-cpu one"}},
		{"no task asleep in the disable", func(ct *wire.CaseTrace) {
			ph := wire.Phases(ct.Ops)[3]
			ct.Switches = slices.DeleteFunc(ct.Switches, func(s wire.SwitchAttempt) bool {
				return s.T >= ph.T0 && s.T <= ph.T1 && s.Kind() == wire.ChainAsleep
			})
		}, []string{"phase 4 (disable, goal 0)", "and no asleep one"}},
		{"a kernel left at voluntary preemption", func(ct *wire.CaseTrace) {
			for i := range ct.Ops {
				if ct.Ops[i].Kind == wire.OpPreempt {
					ct.Ops[i].Preempt = wire.PreemptVoluntary
				}
			}
		}, []string{`preemption model is "voluntary"`}},
		{"no switch records", func(ct *wire.CaseTrace) { ct.Switches = nil }, []string{"no attempt to switch a chain task was recorded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, chainTrace)
			ct := caseIn(tr, "chain")
			tc.mutate(ct)
			_, of := rulesOf(Case(tr, ct, chainCase(t)), rule.Coverage)
			if len(of) != 1 {
				t.Fatalf("coverage violations %v; want one", of)
			}
			for _, w := range tc.want {
				if !strings.Contains(of[0].Msg, w) {
					t.Errorf("%s; want %q", of[0].Msg, w)
				}
			}
		})
	}
}

// Each function's own versions, as an op's Funcs give them (an atomic
// replace's nops: the original at 1), are what the rules hold calls and
// chains to, on the recorded chain trace with its first transition's op
// edited as if klpt_target2's outer function were nop'd (the original at
// both states, nothing below it) and the crossing chains' outer function
// edited to match. Without the op's word, the same chains mix versions.
func TestFuncVersions(t *testing.T) {
	outer2 := table.Key("klpt_target2", table.FuncOuter)
	// nopOuter edits the crossing chains of the first transition that ran
	// the new set to run the original outer function, and returns the
	// transition's op.
	nopOuter := func(ct *wire.CaseTrace) *wire.Op {
		en, done := opIndexOf(ct, wire.OpEnable, 0), opIndexOf(ct, wire.OpComplete, 0)
		n := 0
		for i := range ct.Chains {
			g := &ct.Chains[i]
			if g.Cross && g.T0 > ct.Ops[en].T0 && g.T1 < ct.Ops[done].T0 && g.Versions[0] == wire.VersionNew {
				g.Versions[0] = wire.VersionOld
				n++
			}
		}
		if n == 0 {
			t.Fatal("no crossing chain ran the new set in the first transition")
		}
		return &ct.Ops[en]
	}
	for _, tc := range []struct {
		name   string
		mutate func(ct *wire.CaseTrace)
		rule   rule.Name
		want   string // in the violation; "" = no rule may fire
	}{
		{"a nop'd outer function, as the op says", func(ct *wire.CaseTrace) {
			op := nopOuter(ct)
			op.Funcs = []wire.FuncVersions{{Func: outer2, V0: wire.VersionOld, V1: wire.VersionOld}}
		}, "", ""},
		{"the same chains, the op silent", func(ct *wire.CaseTrace) {
			nopOuter(ct)
		}, rule.Chain, "mixed functions: original (v1) -> livepatched v2"},
		{"the workers' call nop'd by the op, the calls still new", func(ct *wire.CaseTrace) {
			op := &ct.Ops[opIndexOf(ct, wire.OpEnable, 0)]
			op.Funcs = []wire.FuncVersions{{Func: table.Key("klpt_target", table.FuncCall), V0: wire.VersionOld, V1: wire.VersionOld}}
		}, rule.Consistent, "before and after ran the livepatched v2 version; want original (v1)"},
		// A chain whose outer function the transition leaves, across a
		// reversal: the task may be switched to the reversed goal inside
		// it, call in, and be switched back, so at equal states it may
		// have run the other state's set.
		{"across a reversal, in a chain whose outer function the transition leaves", func(ct *wire.CaseTrace) {
			op := nopOuter(ct)
			op.Funcs = []wire.FuncVersions{{Func: outer2, V0: wire.VersionOld, V1: wire.VersionOld}}
			rev := ct.Ops[opIndexOf(ct, wire.OpReverse, 0)]
			for i := range ct.Chains {
				if g := &ct.Chains[i]; g.Cross && g.Before == wire.StatePatched && g.After == wire.StatePatched && g.T1 < rev.T0 && g.T0 > op.T1 {
					g.T1 = rev.T0 + 1 // across the reversal
					g.Versions = []int{wire.VersionOld, wire.VersionOld}
					return
				}
			}
			t.Fatal("no crossing chain at state 1 before the reversal")
		}, "", ""},
		{"the same chain, its outer function in the transition", func(ct *wire.CaseTrace) {
			rev := ct.Ops[opIndexOf(ct, wire.OpReverse, 0)]
			for i := range ct.Chains {
				if g := &ct.Chains[i]; g.Cross && g.Before == wire.StatePatched && g.After == wire.StatePatched && g.T1 < rev.T0 {
					g.T1 = rev.T0 + 1
					g.Versions = []int{wire.VersionOld, wire.VersionOld}
					return
				}
			}
			t.Fatal("no crossing chain at state 1 before the reversal")
		}, rule.Chain, "before and after ran the original (v1) set; want livepatched v2"},
		// An attempt that switched a chain task during a transition
		// that leaves some chain's outer function untouched is not
		// judged: the task may have been in that chain.
		{"a switch in a chain whose outer function the transition leaves", func(ct *wire.CaseTrace) {
			op := nopOuter(ct)
			op.Funcs = []wire.FuncVersions{{Func: outer2, V0: wire.VersionOld, V1: wire.VersionOld}}
			switchInFirst(ct)
		}, "", ""},
		{"the same switch, every outer function in the transition", func(ct *wire.CaseTrace) {
			switchInFirst(ct)
		}, rule.Unsafe, "inside its chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, chainTrace)
			ct := caseIn(tr, "chain")
			tc.mutate(ct)
			vs := Case(tr, ct, chainCase(t))
			if tc.want == "" {
				if len(vs) != 0 {
					t.Fatalf("rules fired: %v", vs)
				}
				return
			}
			names, of := rulesOf(vs, tc.rule)
			if len(of) == 0 {
				t.Fatalf("%s did not fire (rules that did: %v)", tc.rule, names)
			}
			if !strings.Contains(of[0].String(), tc.want) {
				t.Errorf("%s; want %q", of[0].String(), tc.want)
			}
		})
	}
}

// switchInFirst makes the first attempt on a chain task inside the first
// transition a switch.
func switchInFirst(ct *wire.CaseTrace) {
	from, to := ct.Ops[opIndexOf(ct, wire.OpEnable, 0)].T0, ct.Ops[opIndexOf(ct, wire.OpComplete, 0)].T0
	for i := range ct.Switches {
		if s := &ct.Switches[i]; s.InChain() && s.T > from && s.T < to {
			s.Ret = 0
			return
		}
	}
	panic("no attempt on a chain task in the first transition")
}

// opIndexOf is the index in ct.Ops of the n-th finished op of kind.
func opIndexOf(ct *wire.CaseTrace, kind string, n int) int {
	for i, o := range ct.Ops {
		if o.Kind == kind && !o.InProgress {
			if n == 0 {
				return i
			}
			n--
		}
	}
	panic("no " + kind)
}
