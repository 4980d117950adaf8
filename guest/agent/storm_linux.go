package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/wire"
)

// StormArg as argv[1] makes the agent binary the storm: argv is
// [agent, StormArg, TASKS, SECONDS]. StormChildArg makes it a link of a
// fork chain: [agent, StormChildArg, DEPTH].
const (
	StormArg      = "klptest-storm"
	StormChildArg = "klptest-storm-child"
)

// Storm defaults: thousands of tasks under TCG, bounded in time.
const (
	DefaultStormTasks   = 3000
	DefaultStormSeconds = 40
	stormLanes          = 4
	chainDepth          = 3
)

// rawFork forks without exec: the child only makes raw system calls and
// exits, so that no Go runtime code runs in the copy.
func rawFork() (int, error) {
	r1, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if r1 == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return int(r1), nil
}

func forkAndReap() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, err := rawFork()
	if err != nil {
		return fmt.Errorf("fork: %w", err)
	}
	var ws syscall.WaitStatus
	_, err = syscall.Wait4(pid, &ws, 0, nil)
	return err
}

// Storm is the storm's main: lanes of fork, vfork+exec, thread creation
// and fork chains until TASKS tasks were made or SECONDS passed; or, with
// a third argument StormRace, the race storm (raceStorm); or with
// StormExits, the exits storm (exitsStorm). It prints the counts as JSON.
func Storm(args []string) int {
	tasks, seconds := DefaultStormTasks, DefaultStormSeconds
	if len(args) >= 2 {
		tasks, _ = strconv.Atoi(args[0])
		seconds, _ = strconv.Atoi(args[1])
	}
	if len(args) == 3 && args[2] == StormRace {
		return raceStorm(seconds)
	}
	if len(args) == 3 && args[2] == raceLaneArg {
		return raceLane(seconds)
	}
	if len(args) == 3 && args[2] == StormExits {
		return exitsStorm(tasks, seconds) // TASKS: the threads' sleep in ms
	}
	var made, forks, vforks, threads, chains atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, err.Error())
		}
	}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	more := func() bool { return made.Load() < int64(tasks) && time.Now().Before(deadline) }
	var wg, started sync.WaitGroup
	started.Add(stormLanes)
	for lane := 0; lane < stormLanes; lane++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; more() || i == 0; i++ {
				if i == 1 {
					started.Done()
				}
				for j := 0; j < 8; j++ {
					fail(forkAndReap())
					forks.Add(1)
					made.Add(1)
				}
				// Threads: a goroutine that exits locked to its OS thread
				// takes the thread with it, so each one needs a new clone.
				var tw sync.WaitGroup
				for j := 0; j < 4; j++ {
					tw.Add(1)
					go func() {
						defer tw.Done()
						runtime.LockOSThread()
						time.Sleep(time.Millisecond)
					}()
					threads.Add(1)
					made.Add(1)
				}
				tw.Wait()
				// vfork+exec: os/exec clones with CLONE_VFORK|CLONE_VM.
				fail(exec.Command("/proc/self/exe", StormChildArg, "0").Run())
				vforks.Add(1)
				made.Add(1)
				if i%8 == 0 {
					fail(exec.Command("/proc/self/exe", StormChildArg, strconv.Itoa(chainDepth)).Run())
					chains.Add(1)
					made.Add(2 * (chainDepth + 1))
				}
			}
		}()
	}
	// Ready once every lane made one round: the storm is under way.
	go func() { started.Wait(); os.Stdout.WriteString("ready\n") }()
	wg.Wait()
	res := struct {
		Counts map[string]int `json:"counts"`
		Err    string         `json:"err,omitempty"`
	}{Counts: map[string]int{
		"tasks": int(made.Load()), "fork": int(forks.Load()), "vfork+exec": int(vforks.Load()),
		"thread": int(threads.Load()), "chain": int(chains.Load()),
	}}
	if e, ok := firstErr.Load().(string); ok {
		res.Err = e
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// StormRace as the storm's third argument makes it the race storm, which
// runs for at most raceStormSeconds: longer than a repeat step's bound.
const (
	StormRace        = "race"
	raceStormSeconds = cases.RepeatSeconds + 60
)

// The race storm's shape. It runs raceLanes lane processes, each with
// raceMapMB of touched memory of its own, forking back to back, so that
// each fork spends long copying the page tables between the copy of its
// task_struct and klp_copy_process(), and a transition that starts or
// reverses then lands inside a fork. Between forks each lane spins in
// user space for raceSpinMicros/3 to raceSpinMicros: a parent flagged
// there stays pending until it next returns to user space, so that its
// next fork copies the flag and a second reverse can clear it mid-fork
// (the race of the 2022 fix). The spin stays below a tick (4 ms at
// HZ=250), whose return to user space would switch it before it forks.
// Lanes are processes, not threads of one: threads share one mm, whose
// lock would queue their forks behind each other, leaving each lane
// almost never in user space.
const (
	raceLanes      = 4
	raceMapMB      = 64
	raceSpinMicros = 3000
	raceLaneArg    = "race-lane"
)

// raceStorm runs the race storm until its stdin closes or seconds pass,
// then prints its counts.
func raceStorm(seconds int) int {
	var lanes []*exec.Cmd
	var ins []io.WriteCloser
	var outs []*bufio.Reader
	fail := func(err error) int {
		for _, l := range lanes {
			l.Process.Kill()
			l.Wait()
		}
		json.NewEncoder(os.Stdout).Encode(map[string]any{"counts": map[string]int{}, "err": err.Error()})
		return 0
	}
	for i := 0; i < raceLanes; i++ {
		l := exec.Command("/proc/self/exe", StormArg, "0", strconv.Itoa(seconds), raceLaneArg)
		l.Stderr = os.Stderr
		in, err := l.StdinPipe()
		if err != nil {
			return fail(err)
		}
		out, err := l.StdoutPipe()
		if err != nil {
			return fail(err)
		}
		if err := l.Start(); err != nil {
			return fail(fmt.Errorf("race lane: %w", err))
		}
		lanes, ins, outs = append(lanes, l), append(ins, in), append(outs, bufio.NewReader(out))
	}
	for _, o := range outs {
		if line, err := o.ReadString('\n'); err != nil || line != "ready\n" {
			return fail(fmt.Errorf("race lane did not get going: %q %v", line, err))
		}
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	total := 0
	var firstErr string
	for i, l := range lanes {
		ins[i].Close()
		var res struct {
			Forks int    `json:"forks"`
			Err   string `json:"err"`
		}
		b, _ := io.ReadAll(outs[i])
		if err := json.Unmarshal(b, &res); err != nil && firstErr == "" {
			firstErr = fmt.Sprintf("race lane output %q: %v", b, err)
		}
		if err := l.Wait(); err != nil && firstErr == "" {
			firstErr = "race lane: " + err.Error()
		}
		if res.Err != "" && firstErr == "" {
			firstErr = res.Err
		}
		total += res.Forks
	}
	res := struct {
		Counts map[string]int `json:"counts"`
		Err    string         `json:"err,omitempty"`
	}{Counts: map[string]int{"tasks": total, "fork": total}, Err: firstErr}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// raceLane is one lane of the race storm: forks until its stdin closes or
// seconds pass, then prints its count. Its children exit at once and the
// kernel reaps them (SIGCHLD ignored), so that it never waits for one.
func raceLane(seconds int) int {
	mem := make([]byte, raceMapMB<<20)
	for i := 0; i < len(mem); i += os.Getpagesize() {
		mem[i] = 1
	}
	signal.Ignore(syscall.SIGCHLD)
	var stop atomic.Bool
	go func() { io.Copy(io.Discard, os.Stdin); stop.Store(true) }()
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	os.Stdout.WriteString("ready\n")
	runtime.LockOSThread()
	forks, errMsg := 0, ""
	for i := 0; !stop.Load() && time.Now().Before(deadline); i++ {
		spin := time.Duration(raceSpinMicros/3+(i*7919)%(raceSpinMicros*2/3)) * time.Microsecond
		for t := time.Now(); time.Since(t) < spin; {
		}
		if _, err := rawFork(); err != nil {
			if err != syscall.EAGAIN {
				errMsg = "fork: " + err.Error()
				break
			}
			continue
		}
		forks++
	}
	runtime.KeepAlive(mem)
	json.NewEncoder(os.Stdout).Encode(map[string]any{"forks": forks, "err": errMsg})
	return 0
}

// StormExits as the storm's third argument makes it the exits storm, which
// runs, like the race storm, until its stdin closes.
const (
	StormExits = "exits"
	exitsLanes = 4
)

// exitsStorm runs exitsLanes lanes of threads that exit at once: each
// thread names itself cases.ExitComm and sleepMillis (how long the
// livepatches' proc_flush_pid() is to sleep in it) and returns from its goroutine with
// the goroutine locked to it, which makes the Go runtime end the thread
// (exit(2), not exit_group). A thread is reaped as it exits, by itself, in
// release_task(), after it left the task list: there it calls the
// livepatched proc_flush_pid(). The lanes run until stdin closes or
// seconds pass; then the storm prints how many threads exited.
//
// A line "pause" on stdin stops the lanes making threads; the storm says
// "paused" once every lane waits, and "resume" starts them again.
func exitsStorm(sleepMillis, seconds int) int {
	name := append([]byte(cases.ExitComm+strconv.Itoa(sleepMillis)), 0)
	var stop, paused atomic.Bool
	var waiting atomic.Int32
	var out sync.Mutex // ready, paused and the counts go out whole
	say := func(s string) { out.Lock(); os.Stdout.WriteString(s); out.Unlock() }
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case exitsPause:
				paused.Store(true)
				for waiting.Load() < exitsLanes && !stop.Load() && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				say(exitsPaused + "\n")
			case exitsResume:
				paused.Store(false)
			}
		}
		stop.Store(true)
	}()
	var threads atomic.Int64
	var wg sync.WaitGroup
	say("ready\n")
	for i := 0; i < exitsLanes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && time.Now().Before(deadline) {
				if paused.Load() {
					waiting.Add(1)
					for paused.Load() && !stop.Load() {
						time.Sleep(time.Millisecond)
					}
					waiting.Add(-1)
					continue
				}
				done := make(chan struct{})
				go func() {
					runtime.LockOSThread()
					syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0)
					close(done)
					// Returns locked: the runtime ends this thread.
				}()
				<-done
				threads.Add(1)
			}
		}()
	}
	wg.Wait()
	n := int(threads.Load())
	b, _ := json.Marshal(map[string]any{"counts": map[string]int{"tasks": n, "thread": n}})
	say(string(b) + "\n")
	return 0
}

// The exits storm's commands and its answer (exitsStorm).
const (
	exitsPause  = "pause"
	exitsPaused = "paused"
	exitsResume = "resume"
	// exitsPauseSettle: after the lanes stop, the threads they made last
	// finish exiting (well past proc_flush_pid()'s call) within this.
	exitsPauseSettle = 50 * time.Millisecond
)

// stormPause stops the exits storm's lanes making threads, and waits until
// the last threads they made are past release_task()'s call of
// proc_flush_pid(); stormResume starts them again.
func (r *caseRun) stormPause() error {
	if err := r.stormSay(exitsPause); err != nil {
		return err
	}
	if line, err := r.stormOut.ReadString('\n'); err != nil || line != exitsPaused+"\n" {
		return fmt.Errorf("storm did not pause: %q %v", line, err)
	}
	time.Sleep(exitsPauseSettle)
	return nil
}

func (r *caseRun) stormResume() error { return r.stormSay(exitsResume) }

// stormSay sends the running storm one command line.
func (r *caseRun) stormSay(cmd string) error {
	if r.stormCmd == nil {
		return fmt.Errorf("no storm is running")
	}
	if _, err := io.WriteString(r.stormIn, cmd+"\n"); err != nil {
		return fmt.Errorf("storm %s: %w", cmd, err)
	}
	return nil
}

// StormChild is one link of a fork chain: it forks once, and while depth
// remains, runs the next link by vfork+exec.
func StormChild(args []string) int {
	depth, _ := strconv.Atoi(args[0])
	if err := forkAndReap(); err != nil {
		fmt.Fprintln(os.Stderr, "storm child:", err)
		return 1
	}
	if depth > 0 {
		if err := exec.Command("/proc/self/exe", StormChildArg, strconv.Itoa(depth-1)).Run(); err != nil {
			fmt.Fprintln(os.Stderr, "storm child:", err)
			return 1
		}
	}
	return 0
}

// stormStart starts the storm as a child process; stormWait waits for it
// and records it as one op, so that other steps (a transition's start) can
// happen while it runs.
func (r *caseRun) stormStart(st cases.Step) error {
	race := st.Race || st.Exits
	tasks, seconds := DefaultStormTasks, DefaultStormSeconds
	if race {
		seconds = raceStormSeconds
	}
	// --storm-tasks and --storm-seconds size the fork-storm's storm; the
	// race storm runs for as long as its rounds (stormWait stops it).
	if v := params().StormTasks; v > 0 && !race {
		tasks = v
	}
	if v := params().StormSeconds; v > 0 && !race {
		seconds = v
	}
	if r.stormCmd != nil {
		return fmt.Errorf("a storm is running already")
	}
	r.stormOp = wire.Op{Kind: wire.OpStorm, Goal: r.goal, T0: now(), InProgress: true}
	begin := r.stormOp
	r.ev(wire.Event{Type: wire.EvOp, Op: &begin})
	if st.Exits {
		tasks = st.Millis // the exits storm's threads' sleep
	}
	argv := []string{StormArg, strconv.Itoa(tasks), strconv.Itoa(seconds)}
	switch {
	case st.Race:
		argv = append(argv, StormRace)
	case st.Exits:
		argv = append(argv, StormExits)
	}
	r.stormCmd = exec.Command("/proc/self/exe", argv...)
	r.stormCmd.Stderr = os.Stderr
	out, err := r.stormCmd.StdoutPipe()
	if err != nil {
		return err
	}
	// The race storm runs until this closes (stormWait).
	if r.stormIn, err = r.stormCmd.StdinPipe(); err != nil {
		return err
	}
	if err := r.stormCmd.Start(); err != nil {
		r.stormCmd = nil
		return fmt.Errorf("storm: %w", err)
	}
	r.stormOut = bufio.NewReader(out)
	if line, err := r.stormOut.ReadString('\n'); err != nil || line != "ready\n" {
		return fmt.Errorf("storm did not get going: %q %v", line, err)
	}
	return nil
}

func (r *caseRun) stormWait() error {
	if r.stormCmd == nil {
		return fmt.Errorf("no storm is running")
	}
	r.stormIn.Close()
	rest, _ := io.ReadAll(r.stormOut)
	err := r.stormCmd.Wait()
	r.stormCmd = nil
	o := r.stormOp
	o.T1, o.InProgress = now(), false
	var res struct {
		Counts map[string]int `json:"counts"`
		Err    string         `json:"err"`
	}
	if err == nil {
		if jerr := json.Unmarshal(rest, &res); jerr != nil {
			err = fmt.Errorf("storm output %q: %w", rest, jerr)
		} else if res.Err != "" {
			err = fmt.Errorf("storm: %s", res.Err)
		}
	}
	o.Counts = res.Counts
	if err != nil {
		o.Err = err.Error()
	}
	r.ev(wire.Event{Type: wire.EvOp, Op: &o})
	return err
}

// drainProbe emits the fork records, the chain tasks' switch attempts and
// the exits case's exit-path calls the probe gathered since last time.
func (r *caseRun) drainProbe() {
	// The sampler's goroutine drains too: one drain at a time keeps the
	// dropped counts and the records' order.
	r.drainMu.Lock()
	defer r.drainMu.Unlock()
	if b, err := os.ReadFile("/proc/klpt_forks"); err == nil { // else the probe could not hook forks on this kernel
		evs, dropped, err := ParseForks(b)
		if err != nil {
			r.fail(err)
			return
		}
		if len(evs) > 0 || dropped != r.forksDropped {
			r.ev(wire.Event{Type: wire.EvForks, Forks: evs, Dropped: dropped - r.forksDropped})
			r.forksDropped = dropped
		}
	}
	if b, err := os.ReadFile("/proc/klpt_switches"); err == nil { // else no switch records on this kernel
		evs, dropped, err := ParseSwitches(b)
		if err != nil {
			r.fail(err)
			return
		}
		if len(evs) > 0 || dropped != r.switchesDropped {
			r.ev(wire.Event{Type: wire.EvSwitches, Switches: evs, Dropped: dropped - r.switchesDropped})
			r.switchesDropped = dropped
		}
	}
	if b, err := os.ReadFile("/proc/klpt_exits"); err == nil { // else no exit records on this kernel
		evs, dropped, err := ParseExits(b)
		if err != nil {
			r.fail(err)
			return
		}
		if len(evs) > 0 || dropped != r.exitsDropped {
			r.ev(wire.Event{Type: wire.EvExits, Exits: evs, Dropped: dropped - r.exitsDropped})
			r.exitsDropped = dropped
		}
	}
}
