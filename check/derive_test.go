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
// its pass are b, taken over [t+1, t+2], and a, over [t+8, t+9], holding
// tasks.
func snapAt(t int64, b, a wire.KLPReading, tasks ...wire.TaskState) wire.Snapshot {
	b.RT0, b.RT1 = t+1, t+2
	a.RT0, a.RT1 = t+8, t+9
	return wire.Snapshot{Source: wire.SourceProbe, T0: t, T1: t + 10, Before: &b, After: &a, Tasks: tasks}
}

// k is a reading with the counters counting: open with goal (goal -1:
// closed), at gen (klp_init_transition() returned), started.
func k(goal int, gen, started int64) wire.KLPReading {
	return wire.KLPReading{Open: goal >= 0, Goal: goal, Counting: 1, Gen: gen, Inited: gen, Started: started}
}

// initing is a reading inside klp_init_transition() of transition gen,
// before it set klp_transition_patch (open false) or klp_target_state.
func initing(gen int64, open bool) wire.KLPReading {
	return wire.KLPReading{Open: open, Goal: -1, Counting: 1, Gen: gen, Inited: gen - 1, Started: gen - 1}
}

// notCounting is r taken while the counters did not count (ftrace off, or
// kprobes disarmed).
func notCounting(r wire.KLPReading) wire.KLPReading {
	r.Counting = 0
	return r
}

// missed is r after n probe hits were missed in all.
func missed(r wire.KLPReading, n int64) wire.KLPReading {
	r.Missed = n
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
		}, "enable(1)[108,209] complete(1)[401,409]"},
		{"a transition between two snapshots", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, k(-1, 1, 1), k(-1, 1, 1)),
		}, "enable(-1)[108,202] complete(-1)[108,202]"}, // no goal seen: not judged
		{"an unpatching, reversed", []wire.Snapshot{
			snapAt(100, k(-1, 1, 1), k(-1, 1, 1)),
			snapAt(200, k(0, 2, 2), k(0, 2, 2)),
			snapAt(300, withRev(k(0, 2, 2), 1, 0), withRev(k(1, 2, 2), 1, 0)), // mid-reversal
			snapAt(400, withRev(k(1, 2, 2), 1, 1), withRev(k(1, 2, 2), 1, 1)),
			snapAt(500, withRev(k(-1, 2, 2), 1, 1), withRev(k(-1, 2, 2), 1, 1)),
		}, "disable(0)[108,202] reverse(1)[208,402] complete(1)[408,502]"},
		{"a failed enable, cancelled", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, k(1, 1, 0), k(1, 1, 0)),
			snapAt(300, k(0, 1, 0), k(-1, 1, 0)),
			snapAt(400, k(-1, 1, 0), k(-1, 1, 0)),
		}, "enable(1)[108,309] reverse(0)[208,302] complete(0)[301,309]"},
		{"a reading between klp_transition_patch and klp_target_state", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, initing(1, true), k(1, 1, 1)),
			snapAt(300, k(-1, 1, 1), k(-1, 1, 1)),
		}, "enable(1)[108,209] complete(1)[208,302]"},
		{"open when the case began, and when it ended", []wire.Snapshot{
			snapAt(100, k(1, 3, 3), k(1, 3, 3)),
			snapAt(200, k(-1, 3, 3), k(1, 4, 4)),
		}, "enable(1)[100,102] complete(1)[108,202] enable(1)[201,209]"},
		// klp_init_transition() entered, klp_transition_patch not yet
		// set: not a completion.
		{"a reading inside klp_init_transition()", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, initing(1, false), k(1, 1, 0)),
			snapAt(300, k(1, 1, 1), k(-1, 1, 1)),
		}, "enable(1)[108,302] complete(1)[301,309]"},
		// test-ftrace.sh: with ftrace off the counters stop; those
		// readings are blind, and no window is made of them.
		{"not counting", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, notCounting(idle), notCounting(wire.KLPReading{Open: true, Goal: 0})),
			snapAt(300, idle, idle),
			snapAt(400, k(1, 1, 1), k(-1, 1, 1)),
		}, "enable(1)[308,402] complete(1)[401,409]"},
		// A hit missed (transition 1's begin, say): blind up to and
		// including the first quiescent reading after it. Transition 1
		// is seen only over, without a goal; transition 2 is judged.
		{"a probe hit missed", []wire.Snapshot{
			snapAt(100, idle, idle),
			snapAt(200, missed(k(1, 1, 1), 1), missed(k(1, 1, 1), 1)),
			snapAt(300, missed(k(-1, 1, 1), 1), missed(k(-1, 1, 1), 1)),
			snapAt(400, missed(k(0, 2, 2), 1), missed(k(-1, 2, 2), 1)),
		}, "enable(-1)[108,309] complete(-1)[108,309] disable(0)[308,402] complete(0)[401,409]"},
		// Misses before the case's first reading do not blind it.
		{"misses before the case", []wire.Snapshot{
			snapAt(100, missed(idle, 3), missed(idle, 3)),
			snapAt(200, missed(k(1, 1, 1), 3), missed(k(-1, 1, 1), 3)),
		}, "enable(1)[108,202] complete(1)[201,209]"},
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
				snapAt(700, notCounting(done), notCounting(done), ktask(1, 0, false), ktask(2, 0, false)),
				snapAt(800, done, done, ktask(1, -1, false), ktask(2, -1, false)))
		}, ""},
		// ftrace back on while a transition it missed is open: blind
		// until it closes.
		{"a transition open whose begin was missed", func(ct *wire.CaseTrace) {
			open := done
			open.Open, open.Goal = true, 0
			ct.Snapshots = append(ct.Snapshots,
				snapAt(700, notCounting(done), open, ktask(1, 0, false), ktask(2, 0, false)),
				snapAt(800, open, open, ktask(1, 0, false), ktask(2, 0, false)),
				snapAt(900, done, done, ktask(1, -1, false), ktask(2, -1, false)))
		}, ""},
		{"readings that contradict themselves", func(ct *wire.CaseTrace) {
			back := k(1, 1, 0) // started went back
			ct.Snapshots[3].After = &back
		}, rule.Coverage},
		// A probe hit missed mid-transition: blind until quiescent.
		{"a transition after a missed hit", func(ct *wire.CaseTrace) {
			open := missed(done, 1)
			open.Open, open.Goal, open.Gen, open.Inited, open.Started = true, 0, 2, 2, 2
			ct.Snapshots = append(ct.Snapshots,
				snapAt(700, missed(done, 1), open, ktask(1, 0, false), ktask(2, 0, false)),
				snapAt(800, missed(done, 1), missed(done, 1), ktask(1, -1, false), ktask(2, -1, false)))
		}, ""},
		// A /proc snapshot is not judged: it has no readings around it.
		{"a /proc snapshot mid-transition", func(ct *wire.CaseTrace) {
			ct.Snapshots = append(ct.Snapshots, wire.Snapshot{Source: wire.SourceProc, T0: 350, T1: 360,
				Tasks: []wire.TaskState{ktask(1, 1, true)}})
		}, ""},
		{"readings all blind", func(ct *wire.CaseTrace) {
			for i := range ct.Snapshots {
				b, a := notCounting(*ct.Snapshots[i].Before), notCounting(*ct.Snapshots[i].After)
				ct.Snapshots[i].Before, ct.Snapshots[i].After = &b, &a
			}
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
	ct.Snapshots[1].Before.Counting = 0 // a try may have gone uncounted
	if got := Figures(ct, c); got["tries-max"] != 0 || got["readings-blind"] != 1 {
		t.Errorf("with the counters off between: %v; want no tries-max and one blind reading", got)
	}
	ct.Snapshots[1].Before.Counting = 1
	ct.Snapshots[2].Before.Missed, ct.Snapshots[2].After.Missed = 1, 1 // a try's hit may have been missed
	if got := Figures(ct, c); got["tries-max"] != 0 {
		t.Errorf("with a missed hit between: %v; want no tries-max", got)
	}
	if got := Figures(&wire.CaseTrace{}, c); got != nil {
		t.Errorf("without readings: %v; want none", got)
	}
}
