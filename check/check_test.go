package check

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/internal/gzfile"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// load reads a recorded trace: a real run of the patch case on Debian 6.12
// x86_64 under TCG.
func load(t *testing.T, name string) *wire.Trace {
	t.Helper()
	raw, ok := traces.Load(name)
	if !ok {
		b, err := gzfile.Read(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = traces.LoadOrStore(name, b)
	}
	// A fresh copy each time: tests edit what they load.
	var tr wire.Trace
	if err := json.Unmarshal(raw.([]byte), &tr); err != nil {
		t.Fatal(err)
	}
	return &tr
}

var traces sync.Map // name -> decompressed JSON

var patchCase, _ = cases.Lookup([]string{"patch"})

func rules(vs []rule.Violation) map[rule.Name]int {
	out := map[rule.Name]int{}
	for _, v := range vs {
		out[v.Rule]++
	}
	return out
}

// op returns the i-th op of kind in the case.
func op(ct *wire.CaseTrace, kind string, i int) wire.Op {
	for _, o := range ct.Ops {
		if o.Kind == kind {
			if i == 0 {
				return o
			}
			i--
		}
	}
	panic("no op " + kind)
}

// probes returns pointers to the probe snapshots wholly inside [from, to].
func probes(ct *wire.CaseTrace, from, to int64) []*wire.Snapshot {
	var out []*wire.Snapshot
	for i := range ct.Snapshots {
		s := &ct.Snapshots[i]
		if s.Source == wire.SourceProbe && s.T0 > from && s.T1 < to {
			out = append(out, s)
		}
	}
	return out
}

func task(s *wire.Snapshot, comm string) *wire.TaskState {
	for i := range s.Tasks {
		if strings.HasPrefix(s.Tasks[i].Comm, comm) {
			return &s.Tasks[i]
		}
	}
	panic("no task " + comm)
}

func ptr(b bool) *bool { return &b }

// Real runs of correct kernels keep every rule.
func TestRecordedTracesPass(t *testing.T) {
	for _, name := range []string{"patch-debian-6.12.json.gz", "patch-debian-6.1.json.gz"} {
		tr := load(t, name)
		if vs := Case(tr, tr.Cases[0], patchCase[0]); len(vs) != 0 {
			t.Errorf("%s: a correct kernel's trace broke rules:\n%v", name, vs)
		}
		// And in the form today's agent writes, /proc/cmdline's reads
		// with the version they saw.
		versionCmdline(tr.Cases[0])
		if vs := Case(tr, tr.Cases[0], patchCase[0]); len(vs) != 0 {
			t.Errorf("%s, its cmdline reads with versions: a correct kernel's trace broke rules:\n%v", name, vs)
		}
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		rule   rule.Name
		mutate func(tr *wire.Trace, ct *wire.CaseTrace)
	}{
		{"pending flag between transitions", rule.Outside, func(tr *wire.Trace, ct *wire.CaseTrace) {
			s := probes(ct, op(ct, wire.OpComplete, 1).T1, 1<<62)
			task(s[len(s)-1], "kthreadd").Pending = ptr(true) // the seed thread's bug: a flag left behind
		}},
		{"state between transitions", rule.Outside, func(tr *wire.Trace, ct *wire.CaseTrace) {
			s := probes(ct, 0, op(ct, wire.OpEnable, 0).T0)
			task(s[0], "swapper/1").State = wire.StatePatched
		}},
		{"state moves back", rule.Monotonic, func(tr *wire.Trace, ct *wire.CaseTrace) {
			en, done := op(ct, wire.OpEnable, 0), op(ct, wire.OpComplete, 0)
			s := probes(ct, en.T1, done.T1)
			s = append(probes(ct, en.T0, en.T1), s...)
			// A task seen patched, then unpatched again.
			last := s[len(s)-1]
			k := task(last, "kthreadd")
			k.State, k.Pending = wire.StatePatched, ptr(false)
			last2 := *last
			last2.Tasks = append([]wire.TaskState(nil), last.Tasks...)
			last2.T0, last2.T1 = last.T1+1, last.T1+2
			task(&last2, "kthreadd").State = wire.StateUnpatched
			task(&last2, "kthreadd").Pending = ptr(true)
			ct.Snapshots = append(ct.Snapshots, last2)
		}},
		{"invalid state", rule.Monotonic, func(tr *wire.Trace, ct *wire.CaseTrace) {
			en := op(ct, wire.OpEnable, 0)
			s := probes(ct, en.T0, en.T1)
			task(s[len(s)-1], "kthreadd").State = 7
		}},
		{"task left behind at completion", rule.Completion, func(tr *wire.Trace, ct *wire.CaseTrace) {
			en := op(ct, wire.OpEnable, 0)
			snap := wire.Snapshot{Source: wire.SourceProbe, T0: en.T1 + 1, T1: en.T1 + 2}
			f := false
			snap.Tasks = []wire.TaskState{ // read in this order
				{PID: 1, Comm: "init", State: wire.StateUndefined, Pending: &f},
				{PID: 2, Comm: "kthreadd", State: wire.StateUnpatched, Pending: ptr(true)},
			}
			ct.Snapshots = append(ct.Snapshots, snap)
		}},
		{"patched call ran old code", rule.Consistent, func(tr *wire.Trace, ct *wire.CaseTrace) {
			for i := range ct.Calls {
				if ct.Calls[i].Before == wire.StatePatched && ct.Calls[i].After == wire.StatePatched {
					ct.Calls[i].Version = wire.VersionOld
					return
				}
			}
			panic("no patched call")
		}},
		{"call after completion ran old code", rule.Consistent, func(tr *wire.Trace, ct *wire.CaseTrace) {
			done, dis := op(ct, wire.OpComplete, 0), op(ct, wire.OpDisable, 0)
			for i := range ct.Calls {
				g := &ct.Calls[i]
				if g.T0 > done.T1 && g.T1 < dis.T0 {
					g.Version = wire.VersionOld
					return
				}
			}
			panic("no call while patched")
		}},
		{"transition timed out", rule.EndState, func(tr *wire.Trace, ct *wire.CaseTrace) {
			for i := range ct.Ops {
				if ct.Ops[i].Kind == wire.OpComplete {
					ct.Ops[i].Kind = wire.OpTimeout
					ct.Ops[i].Transition = 1
					return
				}
			}
		}},
		{"sysfs enabled wrong", rule.EndState, func(tr *wire.Trace, ct *wire.CaseTrace) {
			for i := range ct.Ops {
				if ct.Ops[i].Kind == wire.OpComplete {
					ct.Ops[i].Enabled = 0
					return
				}
			}
		}},
		{"vmlinux function not patched", rule.Vmlinux, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// As today's agent reads it: the version the cmdline shows.
			versionCmdline(ct)
			for i := range ct.Cmdline {
				ct.Cmdline[i].Version, ct.Cmdline[i].Patched = wire.VersionOld, false
			}
		}},
		{"vmlinux function shows another patch's version", rule.Vmlinux, func(tr *wire.Trace, ct *wire.CaseTrace) {
			// Patched, yet not by klpt_patch: only the version tells.
			versionCmdline(ct)
			for i := range ct.Cmdline {
				if ct.Cmdline[i].Patched {
					ct.Cmdline[i].Version = 3
				}
			}
		}},
		{"vmlinux function not patched, a trace before versions", rule.Vmlinux, func(tr *wire.Trace, ct *wire.CaseTrace) {
			if ct.Cmdline[1].Version != 0 {
				panic("the fixture's reads carry versions: this is not the legacy form")
			}
			for i := range ct.Cmdline {
				ct.Cmdline[i].Patched = false
			}
		}},
		{"warning in the log", rule.KernelLog, func(tr *wire.Trace, ct *wire.CaseTrace) {
			tr.Kmsg = append(tr.Kmsg,
				wire.KmsgLine{Seq: 9000, TS: 6_000_000, Prio: 4, Case: "patch", Msg: "WARNING: CPU: 1 PID: 45 at kernel/livepatch/transition.c:106 klp_complete_transition+0x1d4/0x250"},
				wire.KmsgLine{Seq: 9001, TS: 6_000_001, Prio: 4, Case: "patch", Msg: "Call Trace:"})
		}},
		{"hung task in the log", rule.KernelLog, func(tr *wire.Trace, ct *wire.CaseTrace) {
			tr.Kmsg = append(tr.Kmsg, wire.KmsgLine{Seq: 9000, TS: 6_000_000, Prio: 3, Case: "patch", Msg: "INFO: task exe:155 blocked for more than 120 seconds."})
		}},
		{"KASAN report in the log", rule.KernelLog, func(tr *wire.Trace, ct *wire.CaseTrace) {
			tr.Kmsg = append(tr.Kmsg, wire.KmsgLine{Seq: 9000, TS: 6_000_000, Prio: 3, Case: "patch", Msg: "BUG: KASAN: slab-use-after-free in klp_free_patch_finish+0x3c/0x90"})
		}},
		{"unexpected taint", rule.Taint, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.End.Taint |= 1 << 9
		}},
		{"no snapshots", rule.Trace, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Snapshots = nil
		}},
		{"idle tasks missing", rule.Trace, func(tr *wire.Trace, ct *wire.CaseTrace) {
			s := &ct.Snapshots[0]
			var keep []wire.TaskState
			for _, t := range s.Tasks {
				if !t.Idle {
					keep = append(keep, t)
				}
			}
			s.Tasks = keep
		}},
		{"case unfinished", rule.Trace, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.End = nil
		}},
		{"agent step failed", rule.Agent, func(tr *wire.Trace, ct *wire.CaseTrace) {
			ct.Errors = append(ct.Errors, "load klpt_patch.ko: operation not permitted")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := load(t, "patch-debian-6.12.json.gz")
			ct := tr.Cases[0]
			tt.mutate(tr, ct)
			got := rules(Case(tr, ct, patchCase[0]))
			if got[tt.rule] == 0 {
				t.Errorf("rule %s did not fire; got %v", tt.rule, got)
			}
		})
	}
}

// versionCmdline gives the recorded trace's /proc/cmdline reads, made
// before reads carried a version, the version today's agent reads from
// the cmdline: the original, or klpt_patch's.
func versionCmdline(ct *wire.CaseTrace) {
	for i := range ct.Cmdline {
		r := &ct.Cmdline[i]
		r.Version = wire.VersionOld
		if r.Patched {
			r.Version = wire.VersionNew
		}
	}
}

// synth is a minimal trace of one transition to patched, from 1.0s to
// 3.0s, with the given states of one task in probe snapshots 100ms apart
// from 1.2s on.
func synth(states ...[2]int) (*wire.Trace, *wire.CaseTrace) {
	ct := &wire.CaseTrace{Name: "patch", Ops: []wire.Op{
		{Kind: wire.OpEnable, Goal: 1, T0: 1_000_000_000, T1: 1_100_000_000},
		{Kind: wire.OpComplete, Goal: 1, T0: 3_000_000_000, T1: 3_010_000_000, Enabled: 1},
	}, End: &wire.CaseEnd{T: 4_000_000_000}}
	for i, st := range states {
		t0 := 1_200_000_000 + int64(i)*100_000_000
		ct.Snapshots = append(ct.Snapshots, wire.Snapshot{Source: wire.SourceProbe, T0: t0, T1: t0 + 1,
			Tasks: []wire.TaskState{{PID: 2, Comm: "kthreadd", State: st[0], Pending: ptr(st[1] == 1)}}})
	}
	return &wire.Trace{Version: 1, Cases: []*wire.CaseTrace{ct}}, ct
}

func TestPendingFlag(t *testing.T) {
	tests := []struct {
		name   string
		states [][2]int // state, pending
		fires  bool
	}{
		{"correct", [][2]int{{0, 1}, {0, 1}, {0, 1}, {1, 0}, {1, 0}}, false},
		// The kernel clears TIF_PATCH_PENDING and writes the state as two
		// stores: one snapshot may land between them. Such a blip must not
		// count.
		{"blip between the stores", [][2]int{{0, 1}, {0, 0}, {1, 0}, {1, 1}, {1, 0}}, false},
		{"flag missing, persisting", [][2]int{{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}}, true},
		{"flag left at the goal, persisting", [][2]int{{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}, true},
		{"flag missing, too briefly", [][2]int{{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, ct := synth(tt.states...)
			got := rules(Case(tr, ct, patchCase[0]))
			if (got[rule.Pending] > 0) != tt.fires {
				t.Errorf("pending-flag fired=%v, want %v: %v", got[rule.Pending] > 0, tt.fires, got)
			}
			if got[rule.Monotonic] > 0 || got[rule.Completion] > 0 {
				t.Errorf("unexpected: %v", got)
			}
		})
	}
}

func TestMonotonicSynthetic(t *testing.T) {
	tests := []struct {
		name   string
		states [][2]int
		fires  bool
	}{
		{"towards the goal", [][2]int{{0, 1}, {1, 0}, {-1, 0}}, false},
		{"back from the goal", [][2]int{{0, 1}, {1, 0}, {0, 1}}, true},
		{"back from completion", [][2]int{{1, 0}, {-1, 0}, {1, 0}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, ct := synth(tt.states...)
			if got := rules(Case(tr, ct, patchCase[0])); (got[rule.Monotonic] > 0) != tt.fires {
				t.Errorf("monotonic fired=%v, want %v: %v", got[rule.Monotonic] > 0, tt.fires, got)
			}
		})
	}
}

// A guest that died while loading the livepatch leaves an in-progress enable:
// states after it must not count as "between transitions".
func TestGuestDiedDuringEnable(t *testing.T) {
	tr := load(t, "patch-debian-6.12.json.gz")
	ct := tr.Cases[0]
	en := op(ct, wire.OpEnable, 0)
	var keep []wire.Op
	for _, o := range ct.Ops {
		if o.T0 < en.T0 {
			keep = append(keep, o)
		}
	}
	ct.Ops = append(keep, wire.Op{Kind: wire.OpEnable, Goal: 1, T0: en.T0, InProgress: true})
	var snaps []wire.Snapshot
	for _, s := range ct.Snapshots {
		if s.T1 < en.T1 {
			snaps = append(snaps, s)
		}
	}
	ct.Snapshots, ct.End = snaps, nil
	got := rules(Case(tr, ct, patchCase[0]))
	if got[rule.Outside] != 0 || got[rule.Monotonic] != 0 {
		t.Errorf("states during an unfinished enable were judged as stable: %v", got)
	}
	if got[rule.EndState] == 0 || got[rule.Trace] == 0 {
		t.Errorf("an unfinished transition and case must fail: %v", got)
	}
}

// The report a person reads: one golden file for a trace with several
// broken rules at once, all of which must be reported.
func TestGoldenReport(t *testing.T) {
	tr := load(t, "patch-debian-6.12.json.gz")
	ct := tr.Cases[0]
	s := probes(ct, op(ct, wire.OpComplete, 1).T1, 1<<62)
	task(s[len(s)-1], "kthreadd").Pending = ptr(true)
	versionCmdline(ct)
	ct.Cmdline[1].Version, ct.Cmdline[1].Patched = wire.VersionOld, false
	ct.End.Taint |= 1 << 9
	var b strings.Builder
	for _, v := range Case(tr, ct, patchCase[0]) {
		b.WriteString(v.String() + "\n")
	}
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("report differs from %s (go test -update to accept):\n%s", golden, b.String())
	}
}

// Without Strict, the kernel's health is not judged; the model still is.
func TestPolicy(t *testing.T) {
	tr := load(t, "patch-debian-6.12.json.gz")
	ct := tr.Cases[0]
	tr.Kmsg = append(tr.Kmsg, wire.KmsgLine{Seq: 9000, TS: 6_000_000, Prio: 4, Case: "patch", Msg: "WARNING: CPU: 0 PID: 1 at somewhere"})
	ct.End.Taint |= 1 << 9
	if got := rules(CaseWith(Policy{}, tr, ct, patchCase[0])); len(got) != 0 {
		t.Errorf("lenient policy still judged the kernel log or taint: %v", got)
	}
	if got := rules(Case(tr, ct, patchCase[0])); got[rule.KernelLog] == 0 || got[rule.Taint] == 0 {
		t.Errorf("Strict must judge them: %v", got)
	}
}

// A snapshot whose pass spans the end of one transition and the start of
// the next (its vCPU was paused meanwhile) may hold states of both: it must
// not be judged as part of either.
func TestSnapshotAcrossTransitions(t *testing.T) {
	ct := &wire.CaseTrace{Name: "patch", Ops: []wire.Op{
		{Kind: wire.OpEnable, Goal: 1, T0: 1_000_000_000, T1: 1_100_000_000},
		{Kind: wire.OpComplete, Goal: 1, T0: 2_000_000_000, T1: 2_010_000_000, Enabled: 1},
		{Kind: wire.OpEnable, Goal: 1, T0: 2_110_000_000, T1: 2_200_000_000, Patch: "klpt_patch3", V0: 2, V1: 4},
		{Kind: wire.OpComplete, Goal: 1, T0: 3_000_000_000, T1: 3_010_000_000, Enabled: 1},
	}, End: &wire.CaseEnd{T: 4_000_000_000}}
	f := false
	snap := func(t0, t1 int64, state int) wire.Snapshot {
		return wire.Snapshot{Source: wire.SourceProbe, T0: t0, T1: t1,
			Tasks: []wire.TaskState{{PID: 2, Comm: "kthreadd", State: state, Pending: &f}}}
	}
	ct.Snapshots = []wire.Snapshot{
		snap(1_900_000_000, 1_900_100_000, 1), // the first transition's end
		snap(1_990_000_000, 2_150_000_000, 0), // paused across the completion and the next init
	}
	tr := &wire.Trace{Version: 1, Cases: []*wire.CaseTrace{ct}}
	if got := rules(Case(tr, ct, patchCase[0])); got[rule.Monotonic] != 0 {
		t.Errorf("a snapshot spanning two transitions was judged: %v", got)
	}
}

// Read before the others were reset, a task at the initial state may have
// switched and been reset in between: no violation.
func TestCompletionOrderIsSound(t *testing.T) {
	tr, ct := synth()
	f, p := false, true
	ct.Snapshots = append(ct.Snapshots, wire.Snapshot{Source: wire.SourceProbe, T0: 2_000_000_000, T1: 2_300_000_000,
		Tasks: []wire.TaskState{
			{PID: 2, Comm: "kthreadd", State: wire.StateUnpatched, Pending: &p},
			{PID: 1, Comm: "init", State: wire.StateUndefined, Pending: &f},
		}})
	if got := rules(Case(tr, ct, patchCase[0])); got[rule.Completion] != 0 {
		t.Errorf("fired on a legal read order: %v", got)
	}
}
