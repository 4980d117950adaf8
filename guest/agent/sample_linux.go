package agent

import (
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

func probeSnapshot() (cases.Snapshot, error) {
	b, err := os.ReadFile("/proc/klpt_tasks")
	if err != nil {
		return cases.Snapshot{}, err
	}
	return ParseProbe(b)
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
// /proc walk.
type sampler struct {
	fast    atomic.Bool
	stop    chan struct{}
	done    sync.WaitGroup
	emit    func(cases.Snapshot)
	onError func(error)
}

const (
	fastPeriod = 3 * time.Millisecond
	slowPeriod = 50 * time.Millisecond
	procEvery  = 4
)

func startSampler(emit func(cases.Snapshot), onError func(error)) *sampler {
	s := &sampler{stop: make(chan struct{}), emit: emit, onError: onError}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		failed := false
		for i := 0; ; i++ {
			snap, err := probeSnapshot()
			if err != nil && !failed {
				failed = true // report once, keep /proc going
				s.onError(err)
			} else if err == nil {
				s.emit(snap)
			}
			if i%procEvery == 0 {
				s.emit(procSnapshot())
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
	return s
}

// shutdown stops the loop after one last snapshot.
func (s *sampler) shutdown() {
	close(s.stop)
	s.done.Wait()
}
