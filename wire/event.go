package wire

import (
	"encoding/json"
	"fmt"
)

// TraceVersion is the version of the event and trace format. Bump it on any
// change that an older reader would misread.
const TraceVersion = 1

// Patch states as /proc/PID/patch_state and task_struct.patch_state show them.
const (
	StateUndefined = -1 // KLP_UNDEFINED: no transition
	StateUnpatched = 0  // KLP_UNPATCHED
	StatePatched   = 1  // KLP_PATCHED
)

// Versions of a patched function, as the target module reports them: the
// original, then each livepatch's own.
const (
	VersionOld = 1 // the original
	VersionNew = 2 // klpt_patch
)

// Versions returns the versions a transition's tasks run at state 0 and 1,
// in every function but those listed in Funcs.
func (o Op) Versions() (v0, v1 int) {
	if o.V1 == 0 {
		return VersionOld, VersionNew
	}
	return o.V0, o.V1
}

// FuncVersions are the versions one function (as table.Key names it) runs
// at state 0 and 1 in a transition.
type FuncVersions struct {
	Func string `json:"func"`
	V0   int    `json:"v0"`
	V1   int    `json:"v1"`
}

// VersionsOf returns the versions the function key runs at state 0 and 1.
func (o Op) VersionsOf(key string) (v0, v1 int) {
	for _, f := range o.Funcs {
		if f.Func == key {
			return f.V0, f.V1
		}
	}
	return o.Versions()
}

// The kernel's preemption models, as sched/preempt and uname name them.
const (
	PreemptNone      = "none"
	PreemptVoluntary = "voluntary"
	PreemptFull      = "full"
	PreemptLazy      = "lazy"
	PreemptRT        = "rt"
)

// Preemptible says whether a kernel at model m preempts a task running
// kernel code: at any point where preemption is enabled, at once or (lazy)
// by the next tick.
func Preemptible(m string) bool {
	return m == PreemptFull || m == PreemptLazy || m == PreemptRT
}

// Event types.
const (
	EvHello     = "hello"
	EvCaseStart = "case-start"
	EvOp        = "op"
	EvSnapshot  = "snapshot"
	EvCalls     = "calls"
	EvChains    = "chains"
	EvCmdline   = "cmdline"
	EvKmsg      = "kmsg"
	EvParked    = "parked"
	EvForks     = "forks"
	EvSwitches  = "switches"
	EvExits     = "exits"
	EvCaseEnd   = "case-end"
	EvForensics = "forensics"
	// EvAsk: the agent waits for the host's reply on the result port
	// (shell-on-fail, once a case ended: "shell" after a failure, else
	// "go"). It adds nothing to the trace.
	EvAsk   = "ask"
	EvError = "error"
	EvDone  = "done"
	// EvBench carries one measurement of klptest bench's guest half
	// (klptest.bench_snapshots): no case runs in such a boot.
	EvBench = "bench"
	// EvKselftest carries the outcome of one of the kernel's own
	// selftest scripts (a kselftest case).
	EvKselftest = "kselftest"
)

// Event is one JSON line from the guest. Type says which payload field it
// carries: at most one (done and ask carry none), but for a forks, a
// switches or an exits event, whose records come with Dropped, the count of records
// the probe lost. Case names the case that a case's events belong to.
type Event struct {
	V        int          `json:"v"`
	Type     string       `json:"type"`
	Case     string       `json:"case,omitempty"`
	Hello    *Hello       `json:"hello,omitempty"`
	Op       *Op          `json:"op,omitempty"`
	Snapshot *Snapshot    `json:"snapshot,omitempty"`
	Calls    []CallGroup  `json:"calls,omitempty"`
	Chains   []ChainGroup `json:"chains,omitempty"`
	Cmdline  *CmdlineRead `json:"cmdline,omitempty"`
	Kmsg     []KmsgLine   `json:"kmsg,omitempty"`
	Parked   *ParkResult  `json:"parked,omitempty"`
	Start    *CaseStart   `json:"case_start,omitempty"`
	Forks    []ForkEvent  `json:"forks,omitempty"`
	// Switches are a switches event's attempts to switch chain tasks.
	Switches []SwitchAttempt `json:"switches,omitempty"`
	// Exits are an exits event's exit-path calls.
	Exits   []ExitCall `json:"exits,omitempty"`
	CaseEnd *CaseEnd   `json:"case_end,omitempty"`
	// Forensics is what the agent collected when a transition stalled.
	Forensics *Forensics `json:"forensics,omitempty"`
	Error     string     `json:"error,omitempty"`
	Dropped   int        `json:"dropped,omitempty"` // forks, switches or exits event: records lost
	// SnapshotCost is a bench event's payload.
	SnapshotCost *SnapshotCost `json:"snapshot_cost,omitempty"`
	// Kselftest is a kselftest event's payload.
	Kselftest *KselftestResult `json:"kselftest,omitempty"`
}

// SnapshotCost is how long whole snapshots of every task took, through
// one source, with Tasks live tasks in the guest (those the bench started
// and everything else).
type SnapshotCost struct {
	Source string `json:"source"` // SourceProbe or SourceProc
	Tasks  int    `json:"tasks"`  // tasks in the first snapshot
	// Durations of consecutive snapshots, in ns of guest CLOCK_MONOTONIC.
	Durations []int64 `json:"durations_ns"`
	Err       string  `json:"err,omitempty"`
}

// Hello opens the stream: what the guest runs on.
type Hello struct {
	Release string   `json:"release"` // uname -r
	Machine string   `json:"machine"` // uname -m
	CPUs    int      `json:"cpus"`
	Taint   uint64   `json:"taint"` // /proc/sys/kernel/tainted at start
	Cases   []string `json:"cases"` // what the agent was asked to run
	// KernelText is _text's address in /proc/kallsyms, in hex: with the
	// System.map's, it gives the KASLR offset the host needs to name
	// the addresses it reads from the vCPUs.
	KernelText string `json:"kernel_text,omitempty"`
	// AgentStart and Sent are guest CLOCK_MONOTONIC ns at the agent's
	// start and as it sends this hello. With the kernel log's time of
	// "Run /init" (the kernel log's clock starts with the kernel too), they
	// split a boot into the kernel's part, u-root init's and the agent's.
	AgentStart int64 `json:"agent_start_ns,omitempty"`
	Sent       int64 `json:"sent_ns,omitempty"`
}

// Op is one action of the agent on the livepatch, or one observation that
// ends a transition. T0/T1 bracket it in guest CLOCK_MONOTONIC ns: the
// action happened at some instant in between.
type Op struct {
	Kind string `json:"kind"` // one of the Op kinds below (OpEnable ... OpInject)
	// InProgress marks the event the agent sends before it acts, so that a
	// guest that dies during the action leaves a record of it. The final
	// event, with T1, replaces it.
	InProgress bool   `json:"in_progress,omitempty"`
	Goal       int    `json:"goal"` // the patch state the transition moves tasks to
	T0         int64  `json:"t0"`
	T1         int64  `json:"t1"`
	Err        string `json:"err,omitempty"`
	// Park names the parked task of a park/release op; TID is its task.
	Park string `json:"park,omitempty"`
	TID  int    `json:"tid,omitempty"`
	// Counts says what a storm op created, by kind, or what a sysfs op read.
	Counts map[string]int `json:"counts,omitempty"`
	// Patch is the livepatch module a transition moves or an unload
	// removes (a load or remove op: the target module); V0 and V1 are the
	// versions of the patched functions a task runs at state 0 and 1 (the
	// function below the patch on the stack, and the patch's own). Zero
	// means 1 and 2: klpt_patch over the original.
	Patch string `json:"patch,omitempty"`
	V0    int    `json:"v0,omitempty"`
	V1    int    `json:"v1,omitempty"`
	// Funcs are the patched functions whose versions differ from V0 and
	// V1: those an atomic replace leaves out (the kernel's nops, which run
	// the original at state 1), and those the transition does not touch
	// (one version at both states).
	Funcs []FuncVersions `json:"funcs,omitempty"`
	// Fault is the fault an inject op made (cases.Fault*). Traces before
	// it carried the fault in Patch.
	Fault string `json:"fault,omitempty"`
	// Preempt is the kernel's preemption model after a preempt op:
	// PreemptNone, PreemptVoluntary, PreemptFull, PreemptLazy or
	// PreemptRT.
	Preempt string `json:"preempt,omitempty"`
	// For OpComplete: sysfs as read when the transition was seen complete.
	Enabled    int `json:"enabled,omitempty"`
	Transition int `json:"transition,omitempty"`
	// Derived: an op the host derived from the probe's readings of the
	// transition's state (a transition klptest did not drive), not one the
	// agent did; it read no sysfs.
	Derived bool `json:"-"`
}

// Op kinds.
const (
	OpEnable   = "enable"      // load of the livepatch module (klp_enable_patch)
	OpDisable  = "disable"     // write 0 to /sys/kernel/livepatch/P/enabled
	OpComplete = "complete"    // sysfs transition read 0 after an enable/disable
	OpTimeout  = "timeout"     // the transition did not complete within the bound
	OpUnload   = "unload"      // delete_module of the livepatch
	OpReverse  = "reverse"     // write to enabled mid-transition: the goal flips
	OpForce    = "force"       // write 1 to force
	OpStall    = "stall"       // every task but the parked ones seen at the goal
	OpPark     = "park"        // a task parked inside klpt_park_func()
	OpRelease  = "release"     // a parked task released
	OpBusy     = "unload-busy" // delete_module refused, as expected
	OpStorm    = "storm"       // a storm of process and thread creation
	OpSysfs    = "sysfs"       // a read of every livepatch's sysfs attributes
	OpLoad     = "load"        // a target module loaded
	OpRemove   = "remove"      // a target module removed
	OpInject   = "inject"      // a fault injected on purpose (demo cases)
	OpRepeat   = "repeat"      // the rounds of a repeat step, after them
	OpLeaks    = "leaks"       // what a leak grows, read: Counts (LeakCounts' keys)
	OpPreempt  = "preempt"     // the preemption model set for the case (Op.Preempt)
)

// ParkResult is what a parked task's call returned once released.
type ParkResult struct {
	Name    string `json:"name"`
	TID     int    `json:"tid"`
	Kthread bool   `json:"kthread,omitempty"`
	Mode    int    `json:"mode"`
	Before  int    `json:"before"`  // patch_state at the (last) entry
	After   int    `json:"after"`   // patch_state on the way out
	Version int    `json:"version"` // which klpt_park_func() it returned from
	// Chain: the task was parked in klpt_chain_inner() with
	// klpt_chain_outer() below it; the versions along its chain, outer
	// first (Version is then the inner's).
	Chain   []int  `json:"chain,omitempty"`
	Entries int    `json:"entries"`         // entries into the ioctl: 2 when the syscall was restarted
	Wakes   int    `json:"wakes,omitempty"` // kthread: times it left klpt_park_func()
	Alive   bool   `json:"alive"`           // still alive when released (not killed)
	Err     string `json:"err,omitempty"`
	T0      int64  `json:"t0"`
	T1      int64  `json:"t1"`
	// Woke, when the task left klpt_park_func() before its release
	// (only the kernel's fake signal makes it do that), is a
	// CLOCK_MONOTONIC time after it did: a user task's restarted entry
	// into the ioctl, a kthread's first wake. 0 otherwise, or unknown.
	Woke int64 `json:"woke,omitempty"`
	// Spins: a spinning kthread's spins (Wakes then counts its freezable
	// sleeps).
	Spins int64 `json:"spins,omitempty"`
	// PendingResched and PendingFreeze: a spinning kthread's passes into
	// cond_resched() and into a freezable sleep with TIF_PATCH_PENDING
	// set (the switch points' two places).
	PendingResched int64 `json:"pending_resched,omitempty"`
	PendingFreeze  int64 `json:"pending_freeze,omitempty"`
}

// Sources of a snapshot.
const (
	SourceProbe = "probe" // /proc/klpt_tasks: one pass, idle tasks, pending flag
	SourceProc  = "proc"  // /proc/PID/task/TID/patch_state: state only
)

// Snapshot is every task's state at one moment, from one source.
type Snapshot struct {
	Source string      `json:"source"`
	T0     int64       `json:"t0"`
	T1     int64       `json:"t1"`
	Tasks  []TaskState `json:"tasks"`
	// Before and After are the transition's own state, read just before
	// and just after the probe's pass (nil where the probe cannot read
	// it, and in /proc snapshots).
	Before *KLPReading `json:"klp_before,omitempty"`
	After  *KLPReading `json:"klp_after,omitempty"`
}

// KLPReading is the livepatch core's transition state as the probe read it:
// whether a transition is open and its goal, and counts of the steps that
// open and move one (klpt_probe.c). Gen counts transitions begun
// (klp_init_transition()); Inited and Started are the Gen of the last one
// whose task states are set (klp_init_transition() returned) and whose
// flags are (klp_start_transition() returned); Rev and Force count
// klp_reverse_transition() and klp_force_transition() calls begun,
// Reversed and Forced those that returned. Counting says whether the
// probe's counters were counting (1), were not (0: kprobes disarmed, or,
// where the probes sit on ftrace call sites, ftrace_enabled 0) or could
// not be known (-1); Missed is the probes' running count of hits they
// missed, each a count lost for good: a reading taken while the counters
// did not count, or after a new miss, says nothing of the steps. RT0 and
// RT1 are guest CLOCK_MONOTONIC ns just before and just after the reading:
// it was taken at one moment between them.
type KLPReading struct {
	Open     bool  `json:"open,omitempty"`
	Goal     int   `json:"goal"`
	Counting int   `json:"counting"`
	Missed   int64 `json:"missed,omitempty"`
	RT0      int64 `json:"rt0"`
	RT1      int64 `json:"rt1"`
	Gen      int64 `json:"gen"`
	Inited   int64 `json:"inited"`
	Started  int64 `json:"started"`
	Rev      int64 `json:"rev,omitempty"`
	Reversed int64 `json:"reversed,omitempty"`
	Force    int64 `json:"force,omitempty"`
	Forced   int64 `json:"forced,omitempty"`
	// Tries counts klp_try_complete_transition() calls: each
	// transition's first try, and every retry.
	Tries int64 `json:"tries,omitempty"`
}

// TaskState is one task in a snapshot.
type TaskState struct {
	PID     int    `json:"pid"`
	TGID    int    `json:"tgid"`
	Comm    string `json:"comm"`
	State   int    `json:"state"`
	Pending *bool  `json:"pending,omitempty"` // nil when the source cannot tell
	Kthread bool   `json:"kthread,omitempty"`
	Idle    bool   `json:"idle,omitempty"`
	CPU     int    `json:"cpu,omitempty"` // idle tasks only
}

// MarshalJSON writes a task as a compact array, [pid, tgid, state,
// pending (-1 unknown, 0, 1), kthread, idle, cpu, comm]: snapshots repeat
// every task hundreds of times, and field names would triple the trace.
func (t TaskState) MarshalJSON() ([]byte, error) {
	pending := -1
	if t.Pending != nil {
		pending = b2i(*t.Pending)
	}
	return json.Marshal([]any{t.PID, t.TGID, t.State, pending, b2i(t.Kthread), b2i(t.Idle), t.CPU, t.Comm})
}

// UnmarshalJSON reads the compact array, and the object form too.
func (t *TaskState) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		type plain TaskState // no methods: the default object decoding
		return json.Unmarshal(b, (*plain)(t))
	}
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 8 {
		return fmt.Errorf("task: want 8 fields, got %d", len(a))
	}
	var pending, kthread, idle int
	for i, dst := range []any{&t.PID, &t.TGID, &t.State, &pending, &kthread, &idle, &t.CPU, &t.Comm} {
		if err := json.Unmarshal(a[i], dst); err != nil {
			return fmt.Errorf("task field %d: %w", i, err)
		}
	}
	if pending >= 0 {
		p := pending == 1
		t.Pending = &p
	}
	t.Kthread, t.Idle = kthread == 1, idle == 1
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Key names a task uniquely within a boot: idle tasks all have pid 0.
func (t TaskState) Key() string {
	if t.Idle {
		return fmt.Sprintf("idle/%d", t.CPU)
	}
	return fmt.Sprintf("%d", t.PID)
}

// Name is how violations name a task.
func (t TaskState) Name() string {
	if t.Idle {
		return fmt.Sprintf("%s (idle, cpu %d)", t.Comm, t.CPU)
	}
	return fmt.Sprintf("%s[%d]", t.Comm, t.PID)
}

// CallGroup is a run of consecutive calls by one worker thread into the
// target's klpt_func() that saw the same (before, version, after). Workers
// cut a group after MaxGroupSpan so that a group lies within one phase.
type CallGroup struct {
	TID     int    `json:"tid"`
	Target  string `json:"target,omitempty"` // the target module; "" is klpt_target
	Before  int    `json:"before"`           // patch_state just before the call
	Version int    `json:"version"`          // VersionOld / VersionNew
	After   int    `json:"after"`            // patch_state just after
	N       int    `json:"n"`
	T0      int64  `json:"t0"` // first call's start
	T1      int64  `json:"t1"` // last call's end
}

// ChainGroup is a run of consecutive calls by one worker thread into a
// chain of patched functions, klpt_chain_outer() calling
// klpt_chain_inner(), that saw the same (before, versions, after). The
// outer function spins on the CPU before its call: the task is inside the
// chain, running, for most of the group's span.
type ChainGroup struct {
	TID    int    `json:"tid"`
	Target string `json:"target,omitempty"` // the outer function's module; "" is klpt_target
	// Cross: the inner function is klpt_target's, reached through the
	// pointer klpt_target registers at load.
	Cross    bool  `json:"cross,omitempty"`
	Before   int   `json:"before"`   // patch_state just before the chain
	Versions []int `json:"versions"` // each function's version, outer first
	After    int   `json:"after"`    // patch_state just after
	N        int   `json:"n"`
	T0       int64 `json:"t0"` // first call's start
	T1       int64 `json:"t1"` // last call's end
}

// MaxGroupSpanNS bounds a CallGroup's span.
const MaxGroupSpanNS = 20_000_000

// ForkEvent is one fork as the probe module saw it, in klp_copy_process()
// right after the child got its livepatch state from its parent.
// CopiedState and CopiedPending are the child's at that function's entry:
// what dup_task_struct() copied from the parent at the start of fork.
// Records older than the probe's v2 lack them (Copied is false).
type ForkEvent struct {
	T             int64 `json:"t"`
	PPID          int   `json:"ppid"`
	PTGID         int   `json:"ptgid"`
	CPID          int   `json:"cpid"`
	CTGID         int   `json:"ctgid"`
	PState        int   `json:"pstate"`
	PPending      bool  `json:"ppending,omitempty"`
	CState        int   `json:"cstate"`
	CPending      bool  `json:"cpending,omitempty"`
	Copied        bool  `json:"copied,omitempty"`
	CopiedState   int   `json:"copied_state,omitempty"`
	CopiedPending bool  `json:"copied_pending,omitempty"`
}

// Straddled says whether a transition moved the parent between the copy
// of its task_struct and klp_copy_process(): its state or its flag then
// differ from the copy's, which the kernel must overwrite.
func (f ForkEvent) Straddled() bool {
	return f.Copied && (f.CopiedState != f.PState || f.CopiedPending != f.PPending)
}

// ExitCall is one exit-path call of an exiting thread of the exits case's
// (/proc/klpt_exits): a livepatch's proc_flush_pid(), which release_task()
// runs in the thread itself after it left the task list, from its entry
// (T0) to the end of the sleep it makes there, called from the
// livepatch's text (T1). State and Pending are the task's at T0; Listed says whether it
// was still on the task list then (release_task() has taken it off before
// the call, so it never is); Open whether a transition was open at T0
// (klp_transition_patch set: 1, else 0; -1 unknown); Enabled0 and Enabled1
// are the livepatch's klp_patch.enabled at T0 and at T1.
type ExitCall struct {
	T0       int64 `json:"t0"`
	T1       int64 `json:"t1"`
	PID      int   `json:"pid"`
	TGID     int   `json:"tgid"`
	Version  int   `json:"version"`
	State    int   `json:"state"`
	Pending  bool  `json:"pending,omitempty"`
	Listed   bool  `json:"listed,omitempty"`
	Enabled0 bool  `json:"enabled0,omitempty"`
	Enabled1 bool  `json:"enabled1,omitempty"`
	Open     int   `json:"open"`
}

// Outlived says whether the livepatch whose code the thread ran was
// disabled, by its own disable or by a replace, while it ran there.
func (e ExitCall) Outlived() bool { return e.Enabled0 && !e.Enabled1 }

// CmdlineRead is one read of /proc/cmdline, whose show function the
// livepatch replaces: the vmlinux half of the patch.
type CmdlineRead struct {
	T0      int64 `json:"t0"`
	T1      int64 `json:"t1"`
	Patched bool  `json:"patched"`
	Version int   `json:"version,omitempty"` // 1 original, else the patch's version
}

// KmsgLine is one record of /dev/kmsg.
type KmsgLine struct {
	Seq  uint64 `json:"seq"`
	TS   uint64 `json:"ts_us"`
	Prio int    `json:"prio"`
	Msg  string `json:"msg"`
	Case string `json:"case,omitempty"` // the case running when it was read
}

// Forensics is the evidence of a stalled transition, collected in the guest
// when it did not complete within the case's bound, before anything was
// released or killed.
type Forensics struct {
	Reason string `json:"reason"`
	T      int64  `json:"t"`
	Goal   int    `json:"goal"`
	Patch  string `json:"patch,omitempty"`
	// Blocking are the tasks whose patch state is not the goal yet, as the
	// probe saw them, each with its scheduler state and kernel stack.
	Blocking []BlockingTask `json:"blocking"`
	// More counts blocking tasks beyond those listed.
	More int `json:"more,omitempty"`
	// Sysfs is the livepatch sysfs tree: path under /sys/kernel/livepatch
	// to content, every readable attribute.
	Sysfs map[string]string `json:"sysfs,omitempty"`
	// SysrqSeq and SysrqEnd are the kmsg sequence numbers of the sysrq-t
	// task dump's first and last records: the dump is the trace's kmsg
	// lines between them. 0: none taken (SysrqErr says why). SysrqLost
	// counts records the kernel's ring overwrote before they were read.
	SysrqSeq  uint64 `json:"sysrq_seq,omitempty"`
	SysrqEnd  uint64 `json:"sysrq_end,omitempty"`
	SysrqLost int    `json:"sysrq_lost,omitempty"`
	SysrqErr  string `json:"sysrq_err,omitempty"`
	// Paused: the agent held the stall while the host dumped guest memory.
	Paused bool `json:"paused,omitempty"`
}

// BlockingTask is one task that holds a transition open.
type BlockingTask struct {
	Task TaskState `json:"task"`
	// Sched is the task's scheduler state letter from /proc/PID/stat
	// (R, S, D...) and its wait channel.
	Sched string   `json:"sched,omitempty"`
	Wchan string   `json:"wchan,omitempty"`
	Stack []string `json:"stack,omitempty"` // /proc/PID/stack
	Err   string   `json:"err,omitempty"`   // why the stack could not be read
}

// CaseStart opens a case.
type CaseStart struct {
	T     int64  `json:"t"`
	Taint uint64 `json:"taint"` // /proc/sys/kernel/tainted: the case's baseline
}

// CaseEnd closes a case.
type CaseEnd struct {
	T     int64  `json:"t"`
	Taint uint64 `json:"taint"`
	// Skip, when set, says why the case stopped before its test: the
	// kernel lacks what it tests (a require step).
	Skip string `json:"skip,omitempty"`
}

// Trace is the whole record of one boot.
type Trace struct {
	Version int          `json:"version"`
	Hello   *Hello       `json:"hello,omitempty"`
	Cases   []*CaseTrace `json:"cases"`
	Kmsg    []KmsgLine   `json:"kmsg,omitempty"`
	Errors  []string     `json:"errors,omitempty"` // agent-level errors
	// Bench holds a bench boot's snapshot costs.
	Bench []SnapshotCost `json:"bench,omitempty"`
	Done  bool           `json:"done"`
	Last  string         `json:"last_event,omitempty"` // type of the last event seen
}

// CaseTrace is what one case saw.
type CaseTrace struct {
	Name      string        `json:"name"`
	Ops       []Op          `json:"ops"`
	Snapshots []Snapshot    `json:"snapshots"`
	Calls     []CallGroup   `json:"calls"`
	Chains    []ChainGroup  `json:"chains,omitempty"`
	Cmdline   []CmdlineRead `json:"cmdline,omitempty"`
	Parked    []ParkResult  `json:"parked,omitempty"`
	Forks     []ForkEvent   `json:"forks,omitempty"`
	// ForksDropped counts forks the probe's ring had no room for.
	ForksDropped int `json:"forks_dropped,omitempty"`
	// Switches are the kernel's attempts to switch tasks inside chain
	// calls; SwitchesDropped counts those the probe had no room for.
	Switches        []SwitchAttempt `json:"switches,omitempty"`
	SwitchesDropped int             `json:"switches_dropped,omitempty"`
	// Exits are the exits case's threads' exit-path calls; ExitsDropped
	// counts those the probe had no room for.
	Exits        []ExitCall  `json:"exits,omitempty"`
	ExitsDropped int         `json:"exits_dropped,omitempty"`
	Errors       []string    `json:"errors,omitempty"`
	Forensics    []Forensics `json:"forensics,omitempty"`
	Start        *CaseStart  `json:"start,omitempty"`
	End          *CaseEnd    `json:"end,omitempty"`
	// Kselftest is a kselftest case's script outcome.
	Kselftest *KselftestResult `json:"kselftest,omitempty"`
}

// DropTimelines forgets what the cases saw task by task (snapshots, call
// groups, forks, switch attempts), nearly all of a trace's memory, and keeps the rest: ops,
// ends, errors, forensics. A long --repeat keeps a passed run this way once
// the run is judged and its document is on disk; a suite's timelines take
// over a GiB of memory on debian:6.12.
func (t *Trace) DropTimelines() {
	for _, ct := range t.Cases {
		ct.Snapshots, ct.Calls, ct.Chains, ct.Forks, ct.Switches, ct.Exits = nil, nil, nil, nil, nil, nil
	}
}

// Apply folds one event into the trace.
func (t *Trace) Apply(ev Event) error {
	if ev.V != TraceVersion {
		return fmt.Errorf("event %q has version %d, this klptest reads version %d: rebuild the initramfs", ev.Type, ev.V, TraceVersion)
	}
	if t.Version == 0 {
		t.Version = TraceVersion
	}
	t.Last = ev.Type
	cur := func() (*CaseTrace, error) {
		if len(t.Cases) == 0 || t.Cases[len(t.Cases)-1].Name != ev.Case || t.Cases[len(t.Cases)-1].End != nil {
			return nil, fmt.Errorf("%s event for case %q outside that case", ev.Type, ev.Case)
		}
		return t.Cases[len(t.Cases)-1], nil
	}
	switch ev.Type {
	case EvHello:
		t.Hello = ev.Hello
	case EvCaseStart:
		t.Cases = append(t.Cases, &CaseTrace{Name: ev.Case, Start: ev.Start})
	case EvKmsg:
		for _, l := range ev.Kmsg {
			l.Case = ev.Case
			if l.Case == "" && len(t.Cases) > 0 {
				// Read after a case ended (the last drain of the boot):
				// what the kernel did then follows from that case.
				l.Case = t.Cases[len(t.Cases)-1].Name
			}
			t.Kmsg = append(t.Kmsg, l)
		}
	case EvError:
		if ev.Case == "" {
			t.Errors = append(t.Errors, ev.Error)
			return nil
		}
		c, err := cur()
		if err != nil {
			return err
		}
		c.Errors = append(c.Errors, ev.Error)
	case EvDone:
		t.Done = true
	case EvBench:
		if ev.SnapshotCost == nil {
			return fmt.Errorf("bench event without payload")
		}
		t.Bench = append(t.Bench, *ev.SnapshotCost)
	case EvAsk:
	case EvOp, EvSnapshot, EvCalls, EvChains, EvCmdline, EvParked, EvForks, EvSwitches, EvExits, EvCaseEnd, EvForensics, EvKselftest:
		c, err := cur()
		if err != nil {
			return err
		}
		switch ev.Type {
		case EvOp:
			if ev.Op == nil {
				return fmt.Errorf("op event without op")
			}
			if n := len(c.Ops); n > 0 && c.Ops[n-1].InProgress && c.Ops[n-1].Kind == ev.Op.Kind && c.Ops[n-1].T0 == ev.Op.T0 {
				c.Ops[n-1] = *ev.Op
				break
			}
			c.Ops = append(c.Ops, *ev.Op)
		case EvSnapshot:
			if ev.Snapshot == nil {
				return fmt.Errorf("snapshot event without snapshot")
			}
			c.Snapshots = append(c.Snapshots, *ev.Snapshot)
		case EvCalls:
			c.Calls = append(c.Calls, ev.Calls...)
		case EvChains:
			c.Chains = append(c.Chains, ev.Chains...)
		case EvCmdline:
			if ev.Cmdline == nil {
				return fmt.Errorf("cmdline event without cmdline")
			}
			c.Cmdline = append(c.Cmdline, *ev.Cmdline)
		case EvForks:
			c.Forks = append(c.Forks, ev.Forks...)
			c.ForksDropped += ev.Dropped
		case EvSwitches:
			c.Switches = append(c.Switches, ev.Switches...)
			c.SwitchesDropped += ev.Dropped
		case EvExits:
			c.Exits = append(c.Exits, ev.Exits...)
			c.ExitsDropped += ev.Dropped
		case EvParked:
			if ev.Parked == nil {
				return fmt.Errorf("parked event without payload")
			}
			c.Parked = append(c.Parked, *ev.Parked)
		case EvForensics:
			if ev.Forensics == nil {
				return fmt.Errorf("forensics event without payload")
			}
			c.Forensics = append(c.Forensics, *ev.Forensics)
		case EvKselftest:
			if ev.Kselftest == nil {
				return fmt.Errorf("kselftest event without payload")
			}
			c.Kselftest = ev.Kselftest
		case EvCaseEnd:
			if ev.CaseEnd == nil {
				return fmt.Errorf("case-end event without payload")
			}
			c.End = ev.CaseEnd
		}
	default:
		return fmt.Errorf("unknown event type %q", ev.Type)
	}
	return nil
}

// DecodeLine parses one JSON line into an Event.
func DecodeLine(line []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return ev, fmt.Errorf("bad event line %.80q: %w", line, err)
	}
	return ev, nil
}

// ParkedTask returns the record of the named parked task.
func (ct *CaseTrace) ParkedTask(name string) *ParkResult {
	for i := range ct.Parked {
		if ct.Parked[i].Name == name {
			return &ct.Parked[i]
		}
	}
	return nil
}

// OpsOf returns the case's ops of one kind, finished ones only.
func (ct *CaseTrace) OpsOf(kind string) []Op {
	var out []Op
	for _, o := range ct.Ops {
		if o.Kind == kind && !o.InProgress {
			out = append(out, o)
		}
	}
	return out
}

// The counts of a leaks op: the target module's reference count, the
// entries under /sys/kernel/livepatch, and /proc/meminfo's figures in kB.
const (
	LeakRefcnt       = "refcnt:klpt_target"
	LeakLivepatches  = "livepatches"
	LeakMemAvailable = "MemAvailable"
	LeakSlab         = "Slab"
	LeakSUnreclaim   = "SUnreclaim"
	LeakVmallocUsed  = "VmallocUsed"
	LeakPercpu       = "Percpu"
)

// MeminfoLeakKeys are the /proc/meminfo figures a leaks op reads.
var MeminfoLeakKeys = []string{LeakMemAvailable, LeakSlab, LeakSUnreclaim, LeakVmallocUsed, LeakPercpu}
