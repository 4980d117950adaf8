package check

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// snapAt is a probe snapshot over [t, t+10] whose readings before and after
// its pass are b and a, holding tasks.
func snapAt(t int64, b, a wire.KLPReading, tasks ...wire.TaskState) wire.Snapshot {
	return wire.Snapshot{Source: wire.SourceProbe, T0: t, T1: t + 10, Before: &b, After: &a, Tasks: tasks}
}

// k is a reading with ftrace on: open with goal (goal -1: closed), at gen
// (klp_init_transition() returned), started.
func k(goal int, gen, started int64) wire.KLPReading {
	return wire.KLPReading{Open: goal >= 0, Goal: goal, Ftrace: 1, Gen: gen, Inited: gen, Started: started}
}

// initing is a reading inside klp_init_transition() of transition gen,
// before it set klp_transition_patch (open false) or klp_target_state.
func initing(gen int64, open bool) wire.KLPReading {
	return wire.KLPReading{Open: open, Goal: -1, Ftrace: 1, Gen: gen, Inited: gen - 1, Started: gen - 1}
}

func ftraceOff(r wire.KLPReading) wire.KLPReading {
	r.Ftrace = 0
	return r
}

func withRev(r wire.KLPReading, rev, reversed int64) wire.KLPReading {
	r.Rev, r.Reversed = rev, reversed
	return r
}

// opsString names ops as KIND(GOAL)[T0,T1].
func opsString(ops []wire.Op) string {
	var b strings.Builder
	for _, o := range ops {
		t0, t1 := fmt.Sprint(o.T0), fmt.Sprint(o.T1)
		if o.T1 == math.MaxInt64 {
			t1 = "inf"
		}
		fmt.Fprintf(&b, "%s(%d)[%s,%s] ", o.Kind, o.Goal, t0, t1)
	}
	return strings.TrimSpace(b.String())
}

func TestDerivedOps(t *testing.T) {
	idle := k(-1, 0, 0)
	for _, tc := range []struct {
		name  string
		snaps []wire.Snapshot
		want  string
	}{
		{"a patching transition seen in every phase", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, k(1, 1, 0), k(1, 1, 1)), // begun, then started, in this pass
			snapAt(300, k(1, 1, 1), k(1, 1, 1)),
			snapAt(400, k(1, 1, 1), k(-1, 1, 1)), // completed in this pass
			snapAt(500, k(-1, 1, 1), k(-1, 1, 1)),
		}, "enable(1)[110,210] complete(1)[400,410]"},
		{"a transition between two snapshots", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, k(-1, 1, 1), k(-1, 1, 1)),
		}, "enable(-1)[110,200] complete(-1)[110,200]"}, // no goal seen: not judged
		{"an unpatching, reversed", []wire.Snapshot{
			snapAt(100, k(-1, 1, 1), k(-1, 1, 1)),
			snapAt(200, k(0, 2, 2), k(0, 2, 2)),
			snapAt(300, withRev(k(0, 2, 2), 1, 0), withRev(k(1, 2, 2), 1, 0)), // mid-reversal
			snapAt(400, withRev(k(1, 2, 2), 1, 1), withRev(k(1, 2, 2), 1, 1)),
			snapAt(500, withRev(k(-1, 2, 2), 1, 1), withRev(k(-1, 2, 2), 1, 1)),
		}, "disable(0)[110,200] reverse(1)[210,400] complete(1)[410,500]"},
		{"a failed enable, cancelled", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, k(1, 1, 0), k(1, 1, 0)),
			snapAt(300, k(0, 1, 0), k(-1, 1, 0)),
			snapAt(400, k(-1, 1, 0), k(-1, 1, 0)),
		}, "enable(1)[110,310] reverse(0)[210,300] complete(0)[300,310]"},
		{"a reading between klp_transition_patch and klp_target_state", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, initing(1, true), k(1, 1, 1)),
			snapAt(300, k(-1, 1, 1), k(-1, 1, 1)),
		}, "enable(1)[110,210] complete(1)[210,300]"},
		{"open when the case began, and when it ended", []wire.Snapshot{
			snapAt(100, k(1, 3, 3), k(1, 3, 3)),
			snapAt(200, k(-1, 3, 3), k(1, 4, 4)),
		}, "enable(1)[99,100] complete(1)[110,200] enable(1)[200,210]"},
		// klp_init_transition() entered, klp_transition_patch not yet
		// set: not a completion.
		{"a reading inside klp_init_transition()", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, initing(1, false), k(1, 1, 0)),
			snapAt(300, k(1, 1, 1), k(-1, 1, 1)),
		}, "enable(1)[110,300] complete(1)[300,310]"},
		// test-ftrace.sh: with ftrace off the counters stop; those
		// readings are blind, and no window is made of them.
		{"ftrace off", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, ftraceOff(idle), ftraceOff(wire.KLPReading{Open: true, Goal: 0})),
			snapAt(300, idle, idle),
			snapAt(400, k(1, 1, 1), k(-1, 1, 1)),
		}, "enable(1)[310,400] complete(1)[400,410]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := &wire.CaseTrace{Snapshots: tc.snaps}
			rs, ok := readings(ct)
			if !ok {
				t.Fatal("no readings")
			}
			ops, err := derivedOps(trusted(rs))
			if err != nil {
				t.Fatal(err)
			}
			if got := opsString(ops); got != tc.want {
				t.Errorf("ops:\n  %s\nwant:\n  %s", got, tc.want)
			}
		})
	}
}

// ktask is a task state for a snapshot.
func ktask(pid, state int, pending bool) wire.TaskState {
	return wire.TaskState{PID: pid, TGID: pid, Comm: fmt.Sprintf("t%d", pid), State: state, Pending: &pending}
}

// A kernel selftest's transition, seen only through the probe's readings,
// is judged by the rules on task states: a correct one passes, and each
// kind of wrong state fires its rule.
func TestDerivedRules(t *testing.T) {
	idle := k(-1, 0, 0)
	done := k(-1, 1, 1)
	trace := func() *wire.CaseTrace {
		return &wire.CaseTrace{
			Name: "kselftest:test-livepatch.sh",
			Snapshots: []wire.Snapshot{
				snapAt(100, idle, idle, ktask(1, -1, false), ktask(2, -1, false)),
				snapAt(200, k(1, 1, 0), k(1, 1, 1), ktask(1, 0, true), ktask(2, 0, true)),
				snapAt(300, k(1, 1, 1), k(1, 1, 1), ktask(1, 0, true), ktask(2, 1, false)),
				snapAt(400, k(1, 1, 1), k(1, 1, 1), ktask(1, 1, false), ktask(2, 1, false)),
				snapAt(500, k(1, 1, 1), done, ktask(1, -1, false), ktask(2, -1, false)),
				snapAt(600, done, done, ktask(1, -1, false), ktask(2, -1, false)),
			},
			Kselftest: &wire.KselftestResult{Script: "test-livepatch.sh"},
			End:       &wire.CaseEnd{},
		}
	}
	c := cases.Kselftest("test-livepatch.sh")
	for _, tc := range []struct {
		name string
		edit func(ct *wire.CaseTrace)
		rule rule.Name // "" = none may fire
	}{
		{"a correct transition", func(ct *wire.CaseTrace) {}, ""},
		{"a task left at 1 after the completion", func(ct *wire.CaseTrace) { ct.Snapshots[5].Tasks[0].State = 1 }, rule.Outside},
		{"a task moved back", func(ct *wire.CaseTrace) { ct.Snapshots[3].Tasks[1].State = 0; *ct.Snapshots[3].Tasks[1].Pending = true }, rule.Monotonic},
		{"a completion with a task left behind", func(ct *wire.CaseTrace) {
			ct.Snapshots[4].Tasks[1].State = 0 // read after task 1, already reset
		}, rule.Completion},
		// A failed enable while ftrace was off: the counters missed it,
		// the readings say so, and the snapshot across it is not judged.
		{"a transition the counters missed", func(ct *wire.CaseTrace) {
			ct.Snapshots = append(ct.Snapshots,
				snapAt(700, ftraceOff(done), ftraceOff(done), ktask(1, 0, false), ktask(2, 0, false)),
				snapAt(800, done, done, ktask(1, -1, false), ktask(2, -1, false)))
		}, ""},
		// ftrace back on while a transition it missed is open: blind
		// until it closes.
		{"a transition open whose begin was missed", func(ct *wire.CaseTrace) {
			open := done
			open.Open, open.Goal = true, 0
			ct.Snapshots = append(ct.Snapshots,
				snapAt(700, ftraceOff(done), open, ktask(1, 0, false), ktask(2, 0, false)),
				snapAt(800, open, open, ktask(1, 0, false), ktask(2, 0, false)),
				snapAt(900, done, done, ktask(1, -1, false), ktask(2, -1, false)))
		}, ""},
		{"readings that contradict themselves", func(ct *wire.CaseTrace) {
			back := k(1, 1, 0) // started went back
			ct.Snapshots[3].After = &back
		}, rule.Coverage},
		{"the probe without readings", func(ct *wire.CaseTrace) {
			for i := range ct.Snapshots {
				ct.Snapshots[i].Before, ct.Snapshots[i].After = nil, nil
			}
		}, rule.Coverage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := trace()
			tc.edit(ct)
			vs := Case(&wire.Trace{Cases: []*wire.CaseTrace{ct}}, ct, c)
			if tc.rule == "" {
				if len(vs) > 0 {
					t.Errorf("rules fired: %v", vs)
				}
				return
			}
			names, of := rulesOf(vs, tc.rule)
			if len(of) == 0 {
				t.Errorf("%s did not fire (rules that did: %v)", tc.rule, names)
			}
		})
	}
}

// In klptest's own cases the readings hold the agent's ops to the kernel's
// word: a snapshot between transitions that read one open fires.
func TestReadingsAgainstOps(t *testing.T) {
	tr := load(t, "patch-debian-6.12.json.gz")
	ct := caseIn(tr, "patch")
	c, err := cases.Lookup([]string{"patch"})
	if err != nil {
		t.Fatal(err)
	}
	closed := k(-1, 0, 0)
	for i := range ct.Snapshots {
		if s := &ct.Snapshots[i]; s.Source == wire.SourceProbe {
			s.Before, s.After = &closed, &closed
		}
	}
	if vs := Case(tr, ct, c[0]); len(vs) != 0 {
		t.Fatalf("rules fired on the recorded run with closed readings: %v", vs)
	}
	open := k(1, 1, 1)
	ct.Snapshots[0].After = &open // the first snapshot: before any op
	_, of := rulesOf(Case(tr, ct, c[0]), rule.Outside)
	if len(of) == 0 || !strings.Contains(of[0].Msg, "the kernel had a transition open") {
		t.Errorf("outside-transition: %v; want the kernel's open transition named", of)
	}
}

// The figures: the most tries one transition took, from the readings on
// both sides of it, and for a selftest how many transitions were judged.
func TestFigures(t *testing.T) {
	idle := k(-1, 0, 0)
	tries := func(r wire.KLPReading, n int64) wire.KLPReading { r.Tries = n; return r }
	ct := &wire.CaseTrace{Snapshots: []wire.Snapshot{
		snapAt(100, tries(idle, 5), tries(idle, 5)),
		snapAt(200, tries(k(1, 1, 1), 6), tries(k(1, 1, 1), 7)),
		snapAt(300, tries(k(-1, 1, 1), 8), tries(k(-1, 1, 1), 8)),
	}}
	c := cases.Kselftest("test-livepatch.sh")
	got := Figures(ct, c)
	want := map[string]int{"tries-max": 3, "transitions-judged": 1, "readings-blind": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Figures = %v; want %v", got, want)
	}
	ct.Snapshots[1].Before.Ftrace = 0 // a try may have gone uncounted
	if got := Figures(ct, c); got["tries-max"] != 0 || got["readings-blind"] != 1 {
		t.Errorf("with ftrace off between: %v; want no tries-max and one blind reading", got)
	}
	if got := Figures(&wire.CaseTrace{}, c); got != nil {
		t.Errorf("without readings: %v; want none", got)
	}
}
