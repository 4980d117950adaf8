package check

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// A transition held open past its bound and released afterwards: it fails
// end-state once, naming the blocking task from the forensics, and its late
// completion closes it like any other (no trace-rule noise).
func TestTimeoutThenLateCompletion(t *testing.T) {
	tr := load(t, "patch-debian-6.12.json.gz")
	ct := tr.Cases[0]
	done := op(ct, wire.OpComplete, 0)
	var ops []wire.Op
	for _, o := range ct.Ops {
		if o.Kind == wire.OpComplete && o.T0 == done.T0 {
			to := o
			to.Kind, to.T0, to.T1, to.Transition = wire.OpTimeout, o.T0-2, o.T0-1, 1
			ops = append(ops, to)
		}
		ops = append(ops, o)
	}
	ct.Ops = ops
	pending := true
	ct.Forensics = []wire.Forensics{{Reason: "transition to 1 not complete after 60s", T: done.T0 - 1, Goal: 1, Patch: "klpt_patch",
		Blocking: []wire.BlockingTask{{Task: wire.TaskState{PID: 97, TGID: 97, Comm: "klpt-parker", Pending: &pending}, Sched: "D",
			Stack: []string{"[<0>] klpt_park_func+0x6b/0x120 [klpt_target]", "[<0>] klpt_ioctl+0x98/0x1a0 [klpt_target]", "[<0>] __x64_sys_ioctl+0x94/0xd0"}}}}}
	vs := Case(tr, ct, patchCase[0])
	if len(vs) != 1 || vs[0].Rule != rule.EndState {
		t.Fatalf("want one end-state violation, got %v", vs)
	}
	want := "the transition to 1 (patched) did not complete within 60s; 1 task held it open: klpt-parker[97] (state D, pending, patch_state 0) in klpt_park_func+0x6b/0x120 [klpt_target] < klpt_ioctl+0x98/0x1a0 [klpt_target] < __x64_sys_ioctl+0x94/0xd0"
	if vs[0].Msg != want {
		t.Errorf("message:\n got %s\nwant %s", vs[0].Msg, want)
	}
}

func TestForensicsSummary(t *testing.T) {
	yes := true
	task := func(pid int, comm string) wire.BlockingTask {
		return wire.BlockingTask{Task: wire.TaskState{PID: pid, TGID: pid, Comm: comm, State: 0, Pending: &yes}, Sched: "S", Stack: []string{"[<0>] do_wait+0x1/0x2", "[<0>] a", "[<0>] b", "[<0>] c", "[<0>] d"}}
	}
	tests := []struct {
		name string
		f    wire.Forensics
		want string
	}{
		{"none behind", wire.Forensics{}, "the probe saw no task behind the goal"},
		{"frames cut at four", wire.Forensics{Blocking: []wire.BlockingTask{task(5, "sh")}},
			"1 task held it open: sh[5] (state S, pending, patch_state 0) in do_wait+0x1/0x2 < a < b < c"},
		{"tasks cut at three, the rest counted", wire.Forensics{Blocking: []wire.BlockingTask{task(5, "a"), task(6, "b"), task(7, "c"), task(8, "d")}, More: 10},
			"14 tasks held it open: a[5] (state S, pending, patch_state 0) in do_wait+0x1/0x2 < a < b < c; b[6] (state S, pending, patch_state 0) in do_wait+0x1/0x2 < a < b < c; c[7] (state S, pending, patch_state 0) in do_wait+0x1/0x2 < a < b < c; and 11 more"},
		{"no stack: the wait channel", wire.Forensics{Blocking: []wire.BlockingTask{{Task: wire.TaskState{PID: 9, Comm: "k", State: 1}, Wchan: "worker_thread", Err: "read stack: permission denied"}}},
			"1 task held it open: k[9] (patch_state 1) waiting in worker_thread"},
	}
	for _, tt := range tests {
		if got := ForensicsSummary(tt.f); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	if got := StackFrame("[<0>] klpt_park_func+0x6b/0x120 [klpt_target]"); !strings.HasPrefix(got, "klpt_park_func") {
		t.Errorf("StackFrame: %q", got)
	}
}

// The bound of a transition a parked task holds open on purpose runs from
// the task's release: a storm longer than the bound is not a slow kernel.
func TestBoundFromRelease(t *testing.T) {
	c, _ := cases.Lookup([]string{"fork-storm"})
	c[0].BoundSeconds = 10 // enable to completion took 41 s, release to completion 4.8 s
	tr := load(t, "forkstorm-debian-6.12.json.gz")
	if vs := Case(tr, tr.Cases[0], c[0]); len(vs) != 0 {
		t.Errorf("a transition completed 4.8 s after its release broke a 10 s bound: %v", vs)
	}
	tr = load(t, "forkstorm-debian-6.12.json.gz")
	var ops []wire.Op
	for _, o := range tr.Cases[0].Ops {
		if o.Kind != wire.OpRelease {
			ops = append(ops, o)
		}
	}
	tr.Cases[0].Ops = ops
	vs := Case(tr, tr.Cases[0], c[0])
	if got := rules(vs); got[rule.EndState] != 1 || !strings.Contains(fmt.Sprint(vs), "took 41.0s from its start, over the 10s bound") {
		t.Errorf("without the release, want one end-state violation from the start: %v", vs)
	}
}

// A real WARNING (demo-warn on debian:6.1, recorded): the violation quotes
// the splat from its header through its call trace to the end marker, and
// leaves the register dump out.
func TestKernelLogExcerpt(t *testing.T) {
	tr := load(t, "warn-debian-6.1.json.gz")
	c, _ := cases.Lookup([]string{"demo-warn"})
	var logs []rule.Violation
	for _, v := range Case(tr, tr.Cases[0], c[0]) {
		if v.Rule == rule.KernelLog {
			logs = append(logs, v)
		}
	}
	if len(logs) != 1 {
		t.Fatalf("%d kernel-log violations, want 1: %v", len(logs), logs)
	}
	if !strings.HasPrefix(logs[0].Msg, "WARNING in the kernel log at [") || strings.Contains(logs[0].Msg, "\n") {
		t.Errorf("message %q: want the one-line header, the splat in Excerpt", logs[0].Msg)
	}
	msg := strings.Join(logs[0].Excerpt, "\n")
	for _, want := range []string{"WARNING: CPU: 1 PID: 96 at ", "klpt_inject_warning+0x13/0x20 [klpt_probe]", "RIP: 0010:klpt_inject_warning", "Call Trace:", "klpt_inject_write+0x19c/0x210 [klpt_probe]", "---[ end trace"} {
		if !strings.Contains(msg, want) {
			t.Errorf("excerpt lacks %q:\n%s", want, msg)
		}
	}
	for _, reg := range []string{"RAX:", "RSP:", "CR2:", "Code:"} {
		if strings.Contains(msg, reg) {
			t.Errorf("excerpt holds the register dump (%s):\n%s", reg, msg)
		}
	}
}

// The console after sysrq-9, -w, -l, -t in a real hang (debian:6.1, the
// fault-hang case): one blocked task, the agent, stuck in the probe.
func TestSysrqBlocked(t *testing.T) {
	b, err := os.ReadFile("testdata/sysrq-hang-debian-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := SysrqBlocked(strings.Split(string(b), "\n"))
	want := []string{"uinit[94] in klpt_inject_hang+0x1d/0x1f [klpt_probe] < klpt_inject_write+0x202/0x250 [klpt_probe] < proc_reg_write+0x56/0xa0 < vfs_write+0xc7/0x3f0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SysrqBlocked = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"[ 1.0] task:sleeper state:S stack:0 pid:5 ppid:1 flags:0x0", "[ 1.0]  schedule+0x1/0x2"}, nil},
		{[]string{"task:kworker/0:1 state:D stack:0 pid:7 ppid:2 flags:0x0", "Call Trace:", " <TASK>", " __schedule+0x1/0x2", " ? foo+0x1/0x2", " io_schedule+0x1/0x2", " </TASK>"},
			[]string{"kworker/0:1[7] in io_schedule+0x1/0x2"}},
	} {
		if got := SysrqBlocked(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SysrqBlocked(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
