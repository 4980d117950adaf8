package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/wire"
)

// parker is a task parked inside klpt_park_func(): a child process's thread,
// or klpt_target's kernel thread.
type parker struct {
	name    string
	slot    int
	tid     int
	mode    int
	kthread bool
	spin    bool // the spinning kthread: no slot, a release stops it
	child   *child
	t0      int64
}

// releaseTimeout bounds how long a released task may take to come back.
const releaseTimeout = 30 * time.Second

// ParkerArg as argv[1] makes the agent binary a parker: argv is
// [agent, ParkerArg, SLOT, MODE] ([..., chainArg, WHERE, CPU] parks in the
// chain, WHERE a cases.ChainPark* value, pinned to CPU unless it is -1). It prints "ready TID", parks, and once released prints
// its call as JSON.
const ParkerArg = "klptest-parker"

type parkerResult struct {
	Call  klptCall       `json:"call"`
	Chain *klptChainCall `json:"chain,omitempty"` // parked in the chain
	Err   string         `json:"err,omitempty"`
}

// Parker is a parker process's main.
func Parker(args []string) int {
	inChain := len(args) == 5 && args[2] == chainArg
	if len(args) != 2 && !inChain {
		fmt.Fprintln(os.Stderr, "parker: want SLOT MODE [chain WHERE CPU]")
		return 2
	}
	slot, _ := strconv.Atoi(args[0])
	mode, _ := strconv.Atoi(args[1])
	runtime.LockOSThread()
	t, err := openTarget("klpt_target")
	if err != nil {
		fmt.Fprintln(os.Stderr, "parker:", err)
		return 1
	}
	fmt.Printf("ready %d\n", unix.Gettid())
	if inChain {
		where, _ := strconv.Atoi(args[3])
		if cpu, _ := strconv.Atoi(args[4]); cpu >= 0 {
			// Pinned, and ahead of the workers there (nice -5, about
			// three times a nice-0 task's share), so that it is the
			// task running on that CPU most of the time.
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				fmt.Fprintf(os.Stderr, "parker: pin to CPU %d: %v\n", cpu, err)
				return 1
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, 0, -5); err != nil {
				fmt.Fprintf(os.Stderr, "parker: nice: %v\n", err)
				return 1
			}
		}
		spec := klptChainCall{Park: int32(where), Mode: int32(mode), Slot: int32(slot)}
		if where == cases.ChainParkLoop {
			spec.SpinUs = cases.ChainLoopSpinMicros
		}
		c, err := t.chain(spec)
		res := parkerResult{Chain: &c}
		if err != nil {
			res.Err = err.Error()
		}
		json.NewEncoder(os.Stdout).Encode(res)
		return 0
	}
	c, err := t.park(int32(mode), int32(slot))
	res := parkerResult{Call: c}
	if err != nil {
		res.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// waitParked waits until the slot holds n parked tasks: a task is asleep in
// the function once the module counts it, with no guessing at delays.
func (r *caseRun) waitParked(slot, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := r.t.parked(slot)
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slot %d: %d of %d tasks parked after 30s", slot, got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSpinning waits until the spinning kthread has spun: it is on a CPU.
func (r *caseRun) waitSpinning() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := r.t.kthreadInfo()
		if err != nil {
			return err
		}
		if info.Rounds > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the spinning kthread did not spin within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *caseRun) park(st cases.Step) error {
	if _, dup := r.parked[st.Park]; dup {
		return fmt.Errorf("%s is parked already", st.Park)
	}
	if r.slots >= klptSlots {
		return fmt.Errorf("no parking slot left")
	}
	if st.Chain && st.Do == cases.DoParkKernel {
		return fmt.Errorf("%s: the kernel thread parks in klpt_park_func(), not in a chain", st.Park)
	}
	if st.Mode == cases.ParkSpin && (!st.Chain || !wire.Preemptible(r.preemptModel)) {
		// Spinning in a kernel that cannot preempt it would keep its
		// CPU from the kworkers every transition needs.
		return fmt.Errorf("%s: a spinning park needs a chain and a preemptible kernel (the preemption model is %q)", st.Park, r.preemptModel)
	}
	p := &parker{name: st.Park, slot: r.slots, mode: st.Mode, kthread: st.Do != cases.DoPark, spin: st.Do == cases.DoSpinKernel}
	r.slots++
	return r.op(wire.Op{Kind: wire.OpPark, Goal: r.goal, Park: st.Park}, func() error {
		p.t0 = now()
		if p.spin {
			p.mode = cases.ParkSpin
			pid, err := r.t.spinStart()
			if err != nil {
				return fmt.Errorf("start the spinning kthread: %w", err)
			}
			p.tid = pid
			r.parked[st.Park] = p
			return r.waitSpinning()
		}
		if p.kthread {
			p.mode = cases.ParkOnce
			pid, err := r.t.kthreadStart(p.slot)
			if err != nil {
				return fmt.Errorf("start kthread: %w", err)
			}
			p.tid = pid
		} else {
			argv := []string{ParkerArg, strconv.Itoa(p.slot), strconv.Itoa(st.Mode)}
			if st.Chain {
				where := cases.ChainParkInner
				switch {
				case st.Loop:
					where = cases.ChainParkLoop
				case st.Outer:
					where = cases.ChainParkOuter
				}
				cpu := -1
				if st.Pinned {
					cpu = st.CPU
				}
				argv = append(argv, chainArg, strconv.Itoa(where), strconv.Itoa(cpu))
			}
			k, err := startChildLine(func(line string) error {
				tid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "ready "))
				p.tid = tid
				return err
			}, argv...)
			if err != nil {
				return err
			}
			p.child = k
		}
		r.parked[st.Park] = p
		return r.waitParked(p.slot, 1)
	})
}

func (r *caseRun) release(name string) error {
	p := r.parked[name]
	if p == nil {
		return fmt.Errorf("no parked task %q", name)
	}
	delete(r.parked, name)
	res := wire.ParkResult{Name: name, TID: p.tid, Kthread: p.kthread, Mode: p.mode, T0: p.t0}
	relT0 := now()
	err := r.op(wire.Op{Kind: wire.OpRelease, Goal: r.goal, Park: name, TID: p.tid}, func() error { return r.t.release(p.slot) })
	if err != nil {
		return err
	}
	if p.kthread {
		info, err := r.t.kthreadInfo()
		if err != nil {
			return err
		}
		res.Version, res.Wakes, res.Alive = int(info.Version), int(info.Wakes), info.Alive == 1
		if p.spin {
			res.Spins = int64(info.Rounds)
			res.PendingResched, res.PendingFreeze = int64(info.PendingResched), int64(info.PendingFreeze)
		}
		// A wake before the release op began came from elsewhere: the
		// release wakes it only from its T0 on.
		if w := int64(info.Woke); w != 0 && w < relT0 {
			res.Woke = w
		}
		if err := r.t.kthreadStop(); err != nil {
			res.Err = "kthread_stop: " + err.Error()
		}
	} else {
		// A parked task that never wakes is the kernel's failure to
		// report, not a reason for the agent to hang.
		read := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(p.child.out); read <- b }()
		var b []byte
		select {
		case b = <-read:
		case <-time.After(releaseTimeout):
			p.child.cmd.Process.Kill()
			b = <-read
			res.Err = fmt.Sprintf("still asleep %v after its release: killed", releaseTimeout)
		}
		werr := p.child.cmd.Wait()
		var pr parkerResult
		if jerr := json.Unmarshal(b, &pr); jerr != nil && res.Err == "" {
			res.Err = fmt.Sprintf("parker output %q: %v", b, jerr)
		}
		res.Before, res.After, res.Version, res.Entries = int(pr.Call.Before), int(pr.Call.After), int(pr.Call.Version), int(pr.Call.Entries)
		// A restarted entry (its t0) began after whatever ended the
		// first sleep.
		if res.Entries >= 2 {
			res.Woke = int64(pr.Call.T0)
		}
		if c := pr.Chain; c != nil {
			res.Before, res.After, res.Chain, res.Entries = int(c.Before), int(c.After), c.versions(), int(c.Entries)
			res.Woke = 0
			if res.Entries >= 2 {
				res.Woke = int64(c.T0)
			}
			if n := len(res.Chain); n > 0 {
				res.Version = res.Chain[n-1]
			}
		}
		if pr.Err != "" && res.Err == "" {
			res.Err = pr.Err
		}
		// A parker that was killed has no exit status 0.
		res.Alive = werr == nil
		if werr != nil && res.Err == "" {
			res.Err = werr.Error()
		}
	}
	res.T1 = now()
	r.ev(wire.Event{Type: wire.EvParked, Parked: &res})
	return nil
}
