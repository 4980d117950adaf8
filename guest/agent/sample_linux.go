package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klptest/klptest/wire"
	"golang.org/x/sys/unix"
)

// now is CLOCK_MONOTONIC in ns: the clock the modules' ktime_get_ns() reads.
func now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// procSnapshot walks /proc: the independent second source. It cannot see
// idle tasks or the pending flag, and tasks may come and go during the walk.
func procSnapshot() wire.Snapshot {
	s := wire.Snapshot{Source: wire.SourceProc, T0: now()}
	dirs, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/patch_state")
		if err != nil {
			continue
		}
		st, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		tgid, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(d))))
		comm, _ := os.ReadFile(d + "/comm")
		s.Tasks = append(s.Tasks, wire.TaskState{PID: pid, TGID: tgid, State: st,
			Comm: strings.TrimSpace(string(comm))})
	}
	s.T1 = now()
	return s
}

// sampler takes snapshots in two loops: the probe's, fast while a
// transition may be under way and slow otherwise, and the /proc walk's, at
// its own pace. The walk takes 100-400 ms on TCG with a hundred tasks and
// busy workers; run in the probe's loop it left holes that long in the
// probe's sampling, right where a transition needs it. Taking a snapshot
// only copies the probe's text; parsing and sending happen in a third
// goroutine, so that the sampling rate does not pay for JSON.
type sampler struct {
	fast atomic.Bool
	// auto: fast whenever the last probe read saw a transition open, for
	// transitions the agent does not start itself (the kernel's
	// selftests').
	auto atomic.Bool
	// paused: no snapshots while a person is in the shell, which would
	// otherwise pile up for as long as they stay.
	paused  atomic.Bool
	stop    chan struct{}
	loops   sync.WaitGroup
	sent    sync.WaitGroup
	raw     chan rawSnap
	emit    func(wire.Snapshot)
	onError func(error)
	// tick, if set, runs in the sending goroutine every tickEvery snapshots.
	tick func()
}

// rawSnap is a probe read not parsed yet, or a finished /proc snapshot.
type rawSnap struct {
	probe []byte
	proc  *wire.Snapshot
}

const (
	fastPeriod = 2 * time.Millisecond
	slowPeriod = 50 * time.Millisecond
	// procPause between /proc walks keeps the walk's share of the guest's
	// CPU under about a third (a walk takes 100-400 ms): the cases'
	// workers and the kernel's transition work need the rest.
	procPause = 500 * time.Millisecond
	tickEvery = 32
	// samplerNice: the probe loop's nice value.
	samplerNice = -10
)

func startSampler(emit func(wire.Snapshot), onError func(error)) *sampler {
	s := &sampler{stop: make(chan struct{}), raw: make(chan rawSnap, 1<<14), emit: emit, onError: onError}
	s.loops.Add(2)
	go func() {
		defer s.loops.Done()
		// The workers keep every vCPU busy. A higher weight for this
		// thread lets the scheduler run it as soon as its sleep ends,
		// instead of after the workers' slices.
		runtime.LockOSThread()
		unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), samplerNice)
		failed := false
		for {
			if !s.paused.Load() {
				b, err := os.ReadFile("/proc/klpt_tasks")
				if err != nil && !failed {
					failed = true // report once, keep /proc going
					s.onError(fmt.Errorf("probe: %w", err))
				} else if err == nil {
					s.raw <- rawSnap{probe: b}
					if s.auto.Load() {
						s.fast.Store(bytes.Contains(b, []byte(" open=1 ")))
					}
				}
			}
			p := slowPeriod
			if s.fast.Load() && !s.paused.Load() {
				p = fastPeriod
			}
			if !s.sleep(p) {
				return
			}
		}
	}()
	go func() {
		defer s.loops.Done()
		for {
			if !s.paused.Load() {
				p := procSnapshot()
				s.raw <- rawSnap{proc: &p}
			}
			if !s.sleep(procPause) {
				return
			}
		}
	}()
	s.sent.Add(1)
	go func() {
		defer s.sent.Done()
		n := 0
		for r := range s.raw {
			if n++; n%tickEvery == 0 && s.tick != nil {
				s.tick()
			}
			if r.proc != nil {
				s.emit(*r.proc)
				continue
			}
			snap, err := ParseProbe(r.probe)
			if err != nil {
				s.onError(err)
				continue
			}
			s.emit(snap)
		}
	}()
	return s
}

// sleep waits d, or returns false once the sampler is stopped.
func (s *sampler) sleep(d time.Duration) bool {
	select {
	case <-s.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// shutdown stops the loop and waits until every snapshot was sent.
func (s *sampler) shutdown() {
	close(s.stop)
	s.loops.Wait()
	close(s.raw)
	s.sent.Wait()
}
