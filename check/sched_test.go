package check

import (
	"slices"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// The sched-switch case on the two kinds of switch point, recorded: 6.12
// switched the spinning kthread in cond_resched(), 7.2 at its freezable
// sleep, each in both transitions; 6.1, which has none, skipped it.
func TestRecordedSchedSwitch(t *testing.T) {
	c, err := cases.Lookup([]string{"sched-switch"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		count string // the count that must be 2, one per transition
		skip  bool
	}{
		{"sched-debian-6.12.json.gz", "switched-at-cond-resched", false},
		{"sched-debian-7.2.json.gz", "switched-at-freezable-sleep", false},
		{"sched-debian-6.1.json.gz", "", true},
	} {
		tr := load(t, tc.file)
		ct := caseIn(tr, "sched-switch")
		if vs := Case(tr, ct, c[0]); len(vs) != 0 {
			t.Errorf("%s: a correct kernel's trace broke rules: %v", tc.file, vs)
		}
		if got := ct.Skipped() != ""; got != tc.skip {
			t.Errorf("%s: skipped %v (%q), want %v", tc.file, got, ct.Skipped(), tc.skip)
		}
		if tc.skip {
			continue
		}
		n := c[0].Counts(ct)
		for _, k := range []string{"switched-at-cond-resched", "switched-at-freezable-sleep", "caught-by-a-try"} {
			want := 0
			if k == tc.count {
				want = 2
			}
			if n[k] != want {
				t.Errorf("%s: %s %d, want %d (counts %v)", tc.file, k, n[k], want, n)
			}
		}
	}
}

// schedPID is the recorded spinning kthread's pid.
func schedPID(ct *wire.CaseTrace) int { return ct.ParkedTask(cases.SchedSwitchTask).TID }

// Edited real traces: the rule fires on a hook that did not switch the
// kthread, and on a kthread left pending with no hook run; a trace in
// which every switch was another task's try says it could not test.
func TestSchedSwitchRule(t *testing.T) {
	c, err := cases.Lookup([]string{"sched-switch"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		file string
		want rule.Name
		edit func(tr *wire.Trace, ct *wire.CaseTrace)
	}{
		{"the hook ran again, still pending", "sched-debian-7.2.json.gz", rule.SchedSwitch, func(tr *wire.Trace, ct *wire.CaseTrace) {
			pid := schedPID(ct)
			i := slices.IndexFunc(ct.Switches, func(s wire.SwitchAttempt) bool { return s.PID == pid && s.Hook != "" })
			again := ct.Switches[i]
			again.T += 20e6
			ct.Switches = append(ct.Switches, again)
		}},
		{"no hook, pending for seconds", "sched-debian-6.12.json.gz", rule.SchedSwitch, func(tr *wire.Trace, ct *wire.CaseTrace) {
			pid := schedPID(ct)
			ct.Switches = slices.DeleteFunc(ct.Switches, func(s wire.SwitchAttempt) bool { return s.PID == pid && s.Self })
			// A try from the transition's work caught it asleep 6 s
			// into the unpatching.
			dis := op(ct, wire.OpDisable, 0)
			ct.Switches = append(ct.Switches, wire.SwitchAttempt{T: dis.T1 + 6e9, PID: pid, TGID: pid, State: 1, Pending: true})
		}},
		// The hook never enabled (tr-start-resched-skip): S went
		// through both places hundreds of times with its flag set.
		{"passes with the flag set, at both places", "sched-debian-7.2.json.gz", rule.SchedSwitch, func(tr *wire.Trace, ct *wire.CaseTrace) {
			for i := range ct.Parked {
				if ct.Parked[i].Name == cases.SchedSwitchTask {
					ct.Parked[i].PendingResched, ct.Parked[i].PendingFreeze = 900, 90
				}
			}
		}},
		{"every switch a try's", "sched-debian-6.12.json.gz", rule.Coverage, func(tr *wire.Trace, ct *wire.CaseTrace) {
			pid := schedPID(ct)
			for i, s := range ct.Switches {
				if s.PID == pid && s.Hook != "" {
					ct.Switches[i] = wire.SwitchAttempt{T: s.T, PID: pid, TGID: pid, State: s.State, Pending: true}
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, tc.file)
			ct := caseIn(tr, "sched-switch")
			tc.edit(tr, ct)
			vs := Case(tr, ct, c[0])
			if rules(vs)[tc.want] == 0 {
				t.Errorf("want a %s violation; got %v", tc.want, vs)
			}
		})
	}
}
