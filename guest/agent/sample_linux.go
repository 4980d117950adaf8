package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/cases"
)

// now is CLOCK_MONOTONIC in ns: the clock the modules' ktime_get_ns() reads.
func now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// procSnapshot walks /proc: the independent second source. It cannot see
// idle tasks or the pending flag, and tasks may come and go during the walk.
func procSnapshot() cases.Snapshot {
	s := cases.Snapshot{Source: cases.SourceProc, T0: now()}
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
		s.Tasks = append(s.Tasks, cases.TaskState{PID: pid, TGID: tgid, State: st,
			Comm: strings.TrimSpace(string(comm))})
	}
	s.T1 = now()
	return s
}

// sampler takes snapshots in a loop: fast while a transition may be under
// way, slow otherwise. Every procEvery-th probe snapshot is paired with a
// /proc walk. Taking a snapshot only copies the probe's text; parsing and
// sending happen in a second goroutine, so that the sampling rate does not
// pay for JSON.
type sampler struct {
	fast atomic.Bool
	// paused: no snapshots while a person is in the shell, which would
	// otherwise pile up for as long as they stay.
	paused  atomic.Bool
	stop    chan struct{}
	done    sync.WaitGroup
	raw     chan rawSnap
	emit    func(cases.Snapshot)
	onError func(error)
	// tick, if set, runs in the sending goroutine every tickEvery loops.
	tick func()
}

// rawSnap is a probe read not parsed yet, or a finished /proc snapshot.
type rawSnap struct {
	probe []byte
	proc  *cases.Snapshot
}

const (
	fastPeriod = 2 * time.Millisecond
	slowPeriod = 50 * time.Millisecond
	procEvery  = 8
	tickEvery  = 32
)

func startSampler(emit func(cases.Snapshot), onError func(error)) *sampler {
	s := &sampler{stop: make(chan struct{}), raw: make(chan rawSnap, 1<<14), emit: emit, onError: onError}
	s.done.Add(2)
	go func() {
		defer s.done.Done()
		defer close(s.raw)
		failed := false
		for i := 0; ; i++ {
			if s.paused.Load() {
				select {
				case <-s.stop:
					return
				case <-time.After(slowPeriod):
				}
				continue
			}
			b, err := os.ReadFile("/proc/klpt_tasks")
			if err != nil && !failed {
				failed = true // report once, keep /proc going
				s.onError(fmt.Errorf("probe: %w", err))
			} else if err == nil {
				s.raw <- rawSnap{probe: b}
			}
			if i%procEvery == 0 {
				p := procSnapshot()
				s.raw <- rawSnap{proc: &p}
			}
			p := slowPeriod
			if s.fast.Load() {
				p = fastPeriod
			}
			select {
			case <-s.stop:
				return
			case <-time.After(p):
			}
		}
	}()
	go func() {
		defer s.done.Done()
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

// shutdown stops the loop and waits until every snapshot was sent.
func (s *sampler) shutdown() {
	close(s.stop)
	s.done.Wait()
}
