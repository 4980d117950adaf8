package check

import (
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// The bound on a woken task's try: the tries since the earliest run that
// could have signalled it began, read after the wake.
func TestWakeTryBound(t *testing.T) {
	tries := func(r wire.KLPReading, n int64) wire.KLPReading { r.Tries = n; return r }
	idle := k(-1, 0, 0)
	run1 := k(1, 1, 1)          // transition 1 open, started
	done1 := k(-1, 1, 1)        // transition 1 complete
	rev1 := withRev(run1, 1, 1) // transition 1 reversed: a new run
	for _, tc := range []struct {
		name         string
		snaps        []wire.Snapshot
		parked, woke int64
		want         int64
		wantOK       bool
	}{
		{"parked before the enable, woken at the 16th try",
			[]wire.Snapshot{snapAt(100, tries(idle, 4), tries(idle, 4)), snapAt(200, tries(run1, 5), tries(run1, 19)), snapAt(300, tries(run1, 20), tries(done1, 21))},
			150, 250, 16, true},
		{"woken at the 2nd try",
			[]wire.Snapshot{snapAt(100, tries(idle, 4), tries(idle, 4)), snapAt(200, tries(run1, 5), tries(run1, 6)), snapAt(300, tries(run1, 20), tries(done1, 21))},
			150, 205, 2, true},
		{"parked inside a run: its base is read before it",
			[]wire.Snapshot{snapAt(100, tries(idle, 4), tries(run1, 5)), snapAt(200, tries(run1, 8), tries(run1, 9)), snapAt(300, tries(run1, 21), tries(done1, 22))},
			150, 250, 17, true},
		{"a reversal starts a later run: the earlier one bounds",
			[]wire.Snapshot{snapAt(100, tries(idle, 4), tries(run1, 5)), snapAt(200, tries(run1, 8), tries(rev1, 9)), snapAt(300, tries(rev1, 10), tries(rev1, 10))},
			150, 250, 6, true},
		{"no reading after the wake", []wire.Snapshot{snapAt(100, tries(idle, 4), tries(run1, 5))}, 95, 200, 0, false},
		{"a blind reading between",
			[]wire.Snapshot{snapAt(100, tries(idle, 4), tries(idle, 4)), snapAt(200, notCounting(tries(run1, 5)), tries(run1, 6)), snapAt(300, tries(run1, 20), tries(done1, 21))},
			150, 205, 0, false},
		{"open before any reading", []wire.Snapshot{snapAt(100, tries(run1, 4), tries(run1, 5))}, 150, 205, 0, false},
		{"no run began", []wire.Snapshot{snapAt(100, tries(idle, 4), tries(idle, 4)), snapAt(200, tries(idle, 4), tries(idle, 4))}, 150, 205, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, _ := readings(&wire.CaseTrace{Snapshots: tc.snaps})
			got, ok := wakeTryBound(rs, tc.parked, tc.woke)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("wakeTryBound = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// A recorded fake-signal wake keeps the rule, and the same wake moved to
// the run's first tries breaks it: tr-try-complete-signals-first and
// tr-start-signals-cnt-kept.
func TestRecordedWakes(t *testing.T) {
	tr := load(t, "fallback-debian-6.12.json.gz")
	for _, name := range []string{"signal", "kthread"} {
		ct := caseIn(tr, name)
		cs, err := cases.Lookup([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		c := cs[0]
		var woken *wire.ParkResult
		for i := range ct.Parked {
			if ct.Parked[i].Woke != 0 {
				woken = &ct.Parked[i]
			}
		}
		if woken == nil {
			t.Fatalf("%s: no parked task woke before its release in the recording", name)
		}
		if n := checkWakes(ct, c, func(v rule.Violation) { t.Errorf("%s: %v", name, v) }); n != 1 {
			t.Errorf("%s: %d wakes judged; want 1", name, n)
		}
		en := op(ct, wire.OpEnable, 0)
		woken.Woke = en.T1 + 1
		var got []rule.Violation
		checkWakes(ct, c, func(v rule.Violation) { got = append(got, v) })
		if len(got) != 1 || got[0].Rule != rule.Fallback {
			t.Errorf("%s: woken just after the enable: %v; want one fallback violation", name, got)
		}
		// Readings that say nothing: the named task's wake is not judged.
		for i := range ct.Snapshots {
			ct.Snapshots[i].Before, ct.Snapshots[i].After = nil, nil
		}
		got = nil
		checkWakes(ct, c, func(v rule.Violation) { got = append(got, v) })
		if len(got) != 1 || got[0].Rule != rule.Coverage {
			t.Errorf("%s: without readings: %v; want one coverage violation", name, got)
		}
	}
}

// The quiet idle case: its recorded transitions keep the bound on tries
// and send no fake signal; a signal logged, a transition that took more
// tries, and readings that count nothing each break it.
func TestRecordedIdleTries(t *testing.T) {
	c, err := cases.Lookup([]string{"idle"})
	if err != nil {
		t.Fatal(err)
	}
	tr := load(t, "idle-debian-6.12.json.gz")
	ct := caseIn(tr, "idle")
	if vs := Case(tr, ct, c[0]); len(vs) != 0 {
		t.Fatalf("the recorded idle case broke rules: %v", vs)
	}
	if f := Figures(ct, c[0]); f["tries-max"] < 1 || f["tries-max"] > c[0].MaxTries {
		t.Fatalf("recorded tries-max %d; want 1..%d", f["tries-max"], c[0].MaxTries)
	}
	for _, tc := range []struct {
		name string
		want rule.Name
		edit func(tr *wire.Trace, ct *wire.CaseTrace)
	}{
		{"a fake signal", rule.Fallback, func(tr *wire.Trace, ct *wire.CaseTrace) {
			tr.Kmsg = append(tr.Kmsg, wire.KmsgLine{Msg: "livepatch: signaling remaining tasks", Case: ct.Name})
		}},
		{"the first transition took 5 more tries", rule.Fallback, func(tr *wire.Trace, ct *wire.CaseTrace) {
			done := op(ct, wire.OpComplete, 0)
			for _, s := range ct.Snapshots {
				for _, r := range []*wire.KLPReading{s.Before, s.After} {
					if r != nil && r.RT0 >= done.T1 {
						r.Tries += 5
					}
				}
			}
		}},
		{"no tries counted", rule.Coverage, func(tr *wire.Trace, ct *wire.CaseTrace) {
			for i := range ct.Snapshots {
				ct.Snapshots[i].Before, ct.Snapshots[i].After = nil, nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, "idle-debian-6.12.json.gz")
			ct := caseIn(tr, "idle")
			tc.edit(tr, ct)
			if _, of := rulesOf(Case(tr, ct, c[0]), tc.want); len(of) == 0 {
				t.Errorf("no %s violation", tc.want)
			}
		})
	}
}
