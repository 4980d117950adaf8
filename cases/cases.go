package cases

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// Case is one test case: a script of steps the guest agent carries out, and
// the checks of its own that the host adds to the shared invariants.
type Case struct {
	Name string
	Doc  string // one line, for `klptest list`
	// BoundSeconds is how long one transition may take before it counts
	// as stalled.
	BoundSeconds int
	// OwnBoot: the case leaves the kernel dirty (a forced patch cannot be
	// removed), so it runs in a boot of its own.
	OwnBoot bool
	// Demo cases break the kernel on purpose and must FAIL with the rule
	// in Demo; they run only when named.
	Demo rule.Name
	// Long cases run for minutes (hundreds of transitions): only when
	// named, as demos do, and in the matrix cells that name them.
	Long bool
	// Known names the kernel bug a case finds on every kernel it was run
	// on (docs/findings.md): it runs only when named, as demos do, so that
	// the suite stays green until kernels fix it, and its check names the
	// finding. When the VM died in it, it is judged on the console's
	// kernel log too: the finding may be what killed the VM.
	Known string
	// Fault cases fail the guest itself (a hang, a panic) for klptest's
	// own fault tests, which check what klptest does then; they run only
	// when named, and are not demos of a rule.
	Fault bool
	// CPUs of the guest, when the case needs a number of its own (it then
	// runs in its own boot); 0 means the default.
	CPUs int
	// Quiet cases start no workers: between the agent's own reads the
	// guest's CPUs can go idle, so that the kernel may find an idle task
	// current when it tries it, which only wake_up_if_idle() then gets
	// through its loop to switch. Whether it did is the probe's to say
	// (the idle case's idle-busy count): on some kernels no try does.
	Quiet bool
	// Woken names the parked tasks that only the kernel's fake signal
	// ends the sleep of: each must be seen woken, and its wake placed
	// among the probe's counted tries (check.checkWakes), or the case
	// could not test the signal's moment.
	Woken []string
	// MaxTries, when set, is the most klp_try_complete_transition()
	// calls (the first try and each retry) any of the case's transitions
	// may take: nothing holds them. The probe's counts judge it.
	MaxTries int
	// Kselftest names the kernel's selftest script the case runs instead
	// of Steps (see Kselftest).
	Kselftest string
	Steps     []Step
	// Check returns the violations of the case's own rules on its trace,
	// beyond the shared invariants; nil when it has none. It is pure.
	Check func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation `json:"-"`
	// Counts, when set, returns figures of the case's trace that its
	// verdict reports whether or not it passed (the fork cases: their
	// forks by kind). It is pure.
	Counts func(ct *wire.CaseTrace) map[string]int `json:"-"`
}

// Step is one action of the guest agent.
type Step struct {
	Do   string `json:"do"`             // one of the Do* constants
	Park string `json:"park,omitempty"` // the parked task a park/release step names
	Mode int    `json:"mode,omitempty"` // ParkInterruptible, ...
	// Patch is the livepatch module an enable/disable/unload step acts on
	// ("" is klpt_patch); Module the target module a load/remove/workers
	// step acts on.
	Patch  string `json:"patch,omitempty"`
	Module string `json:"module,omitempty"`
	// Fault is the fault an inject or break-port step makes: one of the
	// Fault* constants.
	Fault string `json:"fault,omitempty"`
	// Chain: a workers step starts chain workers (klpt_chain_outer()
	// spinning on the CPU, then calling klpt_chain_inner()); a park step
	// parks the task in klpt_chain_inner() with the outer one below it,
	// or with Outer in klpt_chain_outer() before its call, so that the
	// task wakes into the rest of the chain. Cross: the chain's inner
	// function is klpt_target's, the outer one Module's.
	Chain bool `json:"chain,omitempty"`
	Outer bool `json:"outer,omitempty"`
	// Loop: a chain park step's task loops on the chain instead
	// (ChainParkLoop); it may switch between calls.
	Loop bool `json:"loop,omitempty"`
	// Pinned: a park step's task runs on CPU only (and at a higher
	// priority), so that the kernel's checks from the other CPU find it
	// there, running.
	Pinned bool `json:"pinned,omitempty"`
	CPU    int  `json:"cpu,omitempty"`
	Cross  bool `json:"cross,omitempty"`
	// Race: a storm-start step starts the race storm (lanes of back to
	// back forks, each long, from a parent spinning in user space between
	// them) instead of fork-storm's mix, until the storm-wait.
	Race bool `json:"race,omitempty"`
	// Exits: a storm-start step starts the exits storm (lanes of threads
	// named ExitComm and Millis that exit at once; the livepatches'
	// proc_flush_pid() sleeps Millis in them) instead, until the
	// storm-wait.
	Exits bool `json:"exits,omitempty"`
	// A repeat step runs Repeat in rounds until its Until condition (a
	// key of Untils; "" for none) holds, at most Rounds rounds and
	// Seconds.
	Repeat []Step `json:"repeat,omitempty"`
	Until  string `json:"until,omitempty"`
	Rounds int    `json:"rounds,omitempty"`
	// Seconds bounds a repeat step's rounds in time; 0 is RepeatSeconds.
	Seconds int `json:"seconds,omitempty"`
	// Millis: a pause step's length, when not PauseMillis; an exits
	// storm's threads' sleep.
	Millis int `json:"millis,omitempty"`
	// Symbol and Why: a require step's kernel symbol, and what its
	// absence means.
	Symbol string `json:"symbol,omitempty"`
	Why    string `json:"why,omitempty"`
}

// RepeatSeconds bounds a repeat step's rounds in time.
const RepeatSeconds = 150

// PauseMillis is a pause step's length: long against a lane's fork (a few
// milliseconds under TCG), so that every lane forks again in it.
const PauseMillis = 100

// Untils are the conditions a repeat step can run until, on the case's
// ops and fork records so far and the time its rounds took. The agent
// evaluates them between rounds; the case's own check judges the same
// records again on the host.
var Untils = map[string]func(ops []wire.Op, forks []wire.ForkEvent, elapsed time.Duration) bool{
	UntilForkRaces: func(ops []wire.Op, forks []wire.ForkEvent, elapsed time.Duration) bool {
		n := wire.ForkRaces(ops, forks)
		if len(forkRaceShortfall(n)) > 0 {
			return false
		}
		for _, k := range ForkRaceWanted {
			if n[k] < ForkRaceN && elapsed < ForkRaceWantSeconds*time.Second {
				return false
			}
		}
		return true
	},
}

// UntilForkRaces: every kind in ForkRaceKinds reached ForkRaceN, and
// every one in ForkRaceWanted too or ForkRaceWantSeconds passed.
const UntilForkRaces = "fork-races"

// ForkRaceWanted are kinds the fork-race case goes on producing for up to
// ForkRaceWantSeconds, but cannot require: a fork that copied the flag
// and whose parent lost it before klp_copy_process() (wire.ForkFlagDropped)
// needs the parent flagged while it ran user code, just before it forked.
// Measured (TCG, 2 vCPUs): about 10 in a run on 6.12, whose parents
// switch themselves mid-fork at cond_resched(); 0 or 1 on 7.2.
var ForkRaceWanted = []string{wire.ForkFlagDropped}

// ForkRaceWantSeconds bounds the rounds spent on ForkRaceWanted.
const ForkRaceWantSeconds = 45

// ForkRaceN is how many forks of each of ForkRaceKinds the fork-race case
// must produce to test klp_copy_process() against that kind of race.
const ForkRaceN = 20

// ForkRaceKinds are the kinds of fork (wire.ForkRaces) the fork-race case
// exists to produce.
var ForkRaceKinds = []string{wire.ForkPendingParent, wire.ForkStraddle}

// forkRaceShortfall names the kinds of ForkRaceKinds below ForkRaceN.
func forkRaceShortfall(n map[string]int) []string {
	var short []string
	for _, k := range ForkRaceKinds {
		if n[k] < ForkRaceN {
			short = append(short, k)
		}
	}
	return short
}

// ChainSpinMicros is how long a chain worker's outer function spins on its
// CPU before it calls the inner one: long against a sampler's period and a
// scheduler tick, so that a transition's stack checks find chain workers
// running inside the chain, on the other CPU too.
const ChainSpinMicros = 3000

// ChainKindsSeconds bounds a wait-chain-kinds step.
const ChainKindsSeconds = 30

// Steps the agent knows.
const (
	DoEnable     = "enable"      // load the livepatch module: a transition to patched
	DoDisable    = "disable"     // write 0 to enabled: a transition to unpatched
	DoReverse    = "reverse"     // write the other value to enabled mid-transition
	DoForce      = "force"       // write 1 to force
	DoWait       = "wait"        // wait until the transition completes
	DoWaitStall  = "wait-stall"  // wait until every task but the parked ones reached the goal
	DoSettle     = "settle"      // sample a stable stretch and read /proc/cmdline
	DoPark       = "park"        // park a user task inside klpt_park_func()
	DoParkKernel = "park-kernel" // park a kernel thread inside klpt_park_func()
	// DoSpinKernel starts Park, a kernel thread spinning on a CPU outside
	// every patched function, with cond_resched() after each spin and a
	// brief freezable sleep now and then; a release stops it.
	DoSpinKernel = "spin-kernel"
	// DoRequire ends the case as skipped, with Why, when the kernel lacks
	// Symbol (/proc/kallsyms): what the case tests is not in it.
	DoRequire    = "require"
	DoRelease    = "release"     // release a parked task and collect its call
	DoUnload     = "unload"      // remove the livepatch module
	DoUnloadBusy = "unload-busy" // removing it must fail: the kernel keeps it
	DoStormStart = "storm-start" // start a storm of forks, vfork+execs, threads and fork chains
	DoSysfs      = "sysfs"       // read every livepatch's sysfs attributes, once Patch's directory (a replaced patch's) is gone or a bound passed
	DoLeaks      = "leaks"       // read what a leak grows: the target modules' refcounts, the livepatch sysfs entries, memory
	DoLoad       = "load"        // load a target module
	DoRemove     = "remove"      // remove a target module
	DoWorkers    = "workers"     // start workers calling Module's functions too
	// DoInject breaks the kernel on purpose (demo and fault cases only)
	// with the step's Fault, applied to the parked task Park, or to a
	// sleeper when Park is "".
	DoInject    = "inject"
	DoStormWait = "storm-wait" // wait for the storm to end
	// DoStormPause stops the exits storm's lanes, once its last threads
	// are past the exit path's patched call; DoStormResume restarts them.
	DoStormPause  = "storm-pause"
	DoStormResume = "storm-resume"
	DoRepeat      = "repeat" // run the step's Repeat steps in rounds, until its Until holds
	// DoPause lets PauseMillis (or the step's Millis) pass: the storm's lanes run (and switch)
	// between two reverses. It waits for no event: the repeat's
	// condition, not the pause, decides when the case has what it needs.
	DoPause = "pause"
	// DoWaitChainKinds waits, up to ChainKindsSeconds, until the kernel
	// has tried to switch a chain task of every kind (wire.ChainKinds)
	// since the transition phase began: the held phase's retries come
	// once a second, and each finds a spinner running on the other CPU
	// only now and then. It fails nothing: the case's check says what
	// did not come.
	DoWaitChainKinds = "wait-chain-kinds"
	// DoPreempt makes the kernel fully preemptible for the rest of the
	// case where its preemption model can be switched at run time
	// (PREEMPT_DYNAMIC, through debugfs' sched/preempt), so that a task
	// spinning in the kernel is preempted there; the cleanup restores the
	// model. Its op says the model in force (wire.Op.Preempt).
	DoPreempt = "preempt"
	// DoBreakPort breaks the agent's result port (fault cases only) with
	// the step's Fault.
	DoBreakPort = "break-port"
)

// Faults an inject step makes, as /proc/klpt_inject takes them
// (kmod/src/klpt_probe.c), and a break-port step makes.
const (
	FaultSetPending   = "set-pending"   // inject: set the task's TIF_PATCH_PENDING
	FaultClearPending = "clear-pending" // inject: clear it
	FaultWarn         = "warn"          // inject: a kernel WARNING
	FaultHang         = "hang"          // inject, fault cases: the agent never returns
	FaultPanic        = "panic"         // inject, fault cases: the kernel panics
	FaultTruncate     = "truncate"      // break-port: half an event line, then nothing
	FaultClose        = "close"         // break-port: the port closed
)

// Where a chain park sleeps; they mirror KLPT_CHAIN_PARK_* in
// kmod/src/klpt_uapi.h, which the agent's tests hold them to.
const (
	ChainParkInner = 1
	ChainParkOuter = 2
	// ChainParkLoop: the task calls the chain again and again (each call
	// spinning ChainLoopSpinMicros), sleeping briefly outside it in
	// between, until released (Step.Loop).
	ChainParkLoop = 3
)

// ChainLoopSpinMicros is how long each of a loop park's chain calls spins
// (with preemption off: short, against a scheduler tick).
const ChainLoopSpinMicros = 1000

// Parking modes; they mirror KLPT_PARK_* in kmod/src/klpt_uapi.h, which the
// agent's tests hold them to.
const (
	ParkInterruptible   = 0
	ParkUninterruptible = 1
	ParkOnce            = 2
	// ParkSpin: a chain park that spins on its CPU until released
	// (preemptible: the agent refuses it on a kernel that is not).
	ParkSpin = 3
)

var registry = map[string]Case{}

func register(c Case) {
	if _, dup := registry[c.Name]; dup {
		panic("case registered twice: " + c.Name)
	}
	if c.BoundSeconds == 0 {
		c.BoundSeconds = 60
	}
	registry[c.Name] = c
}

// All lists the cases by name, demos excluded.
func All() []Case {
	return sorted(func(c Case) bool { return c.Demo == "" && !c.Fault && !c.Long && c.Known == "" })
}

// Demos lists the demo cases by name.
func Demos() []Case { return sorted(func(c Case) bool { return c.Demo != "" }) }

// Longs lists the long cases by name.
func Longs() []Case { return sorted(func(c Case) bool { return c.Long }) }

// Knowns lists the cases that find a known kernel bug, by name.
func Knowns() []Case { return sorted(func(c Case) bool { return c.Known != "" }) }

// Faults lists the fault cases by name.
func Faults() []Case { return sorted(func(c Case) bool { return c.Fault }) }

// sorted lists the registered cases that keep holds, by name.
func sorted(keep func(Case) bool) []Case {
	var out []Case
	for _, c := range registry {
		if keep(c) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds cases by name; an unknown name is an error that lists the known ones.
func Lookup(names []string) ([]Case, error) {
	var out []Case
	for _, n := range names {
		if script, ok := KselftestScript(n); ok && script != "" && !strings.ContainsAny(script, "/ ") {
			out = append(out, Kselftest(script))
			continue
		}
		c, ok := registry[n]
		if !ok {
			var known []string
			for _, k := range append(append(All(), Longs()...), Knowns()...) {
				known = append(known, k.Name)
			}
			return nil, fmt.Errorf("unknown case %q (known: %s; see `klptest list`)", n, strings.Join(known, ", "))
		}
		out = append(out, c)
	}
	return out, nil
}

// Storms says whether the case starts a fork storm, whose length
// klptest.storm_seconds sets.
func (c Case) Storms() bool {
	for _, s := range c.Steps {
		if s.Do == DoStormStart {
			return true
		}
	}
	return false
}

// RepeatBound is how long the case's repeat steps may run in all: each
// one's Seconds, or RepeatSeconds. Its rounds' transitions may hold the
// case that long before its bound starts to count.
func (c Case) RepeatBound() time.Duration {
	var d time.Duration
	for _, s := range c.Steps {
		if s.Do != DoRepeat {
			continue
		}
		n := s.Seconds
		if n == 0 {
			n = RepeatSeconds
		}
		d += time.Duration(n) * time.Second
	}
	return d
}

// patchVersion is the version livepatch module name installs (kmod/table).
// The cases name their patches as constants, so an unknown one is a typo.
func patchVersion(name string) int {
	m, ok := table.Patch(name)
	if !ok {
		panic("cases: no livepatch " + name + " in kmod/table")
	}
	return m.Version
}
