package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
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
