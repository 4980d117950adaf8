package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klptest/klptest/wire"
	"golang.org/x/sys/unix"
)

// Worker is a worker process's main: argv is [agent, WorkerArg, THREADS,
// MODULE].
// Each thread calls klpt_func() in a loop, grouping identical consecutive
// results. It stops when stdin closes and writes its groups to stdout.
func Worker(args []string) int {
	threads := 1
	if len(args) > 0 {
		if n, err := strconv.Atoi(args[0]); err == nil && n > 0 {
			threads = n
		}
	}
	module := "klpt_target"
	if len(args) > 1 {
		module = args[1]
	}
	t, err := openTarget(module)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	var (
		mu     sync.Mutex
		all    []wire.CallGroup
		errs   []string
		wg     sync.WaitGroup
		ready  sync.WaitGroup
		report = func(g []wire.CallGroup, err error) {
			mu.Lock()
			all = append(all, g...)
			if err != nil {
				errs = append(errs, err.Error())
			}
			mu.Unlock()
		}
	)
	for i := 0; i < threads; i++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			// One OS thread per loop, so that each loop is one task.
			runtime.LockOSThread()
			tid := unix.Gettid()
			// Nice the loops (per thread on Linux), so that the sampler
			// keeps its rate on two vCPUs.
			unix.Setpriority(unix.PRIO_PROCESS, 0, 10)
			ready.Done()
			var groups []wire.CallGroup
			var n int
			for !stop.Load() {
				c, err := t.call()
				if err != nil {
					report(groups, fmt.Errorf("worker %d: call: %w", tid, err))
					return
				}
				groups = addCall(groups, tid, c)
				if module != "klpt_target" {
					groups[len(groups)-1].Target = module
				}
				// Leave room for the sampler on two vCPUs.
				if n++; n%8 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			report(groups, nil)
		}()
	}
	ready.Wait()
	os.Stdout.WriteString("ready\n")
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(workerResult{Calls: all, Errors: errs})
	return 0
}

type workerResult struct {
	Calls  []wire.CallGroup `json:"calls"`
	Errors []string         `json:"errors"`
}

// addCall extends the last group when the call saw the same thing and the
// group stays within wire.MaxGroupSpanNS, else starts a new one.
func addCall(groups []wire.CallGroup, tid int, c klptCall) []wire.CallGroup {
	if n := len(groups); n > 0 {
		g := &groups[n-1]
		if g.Before == int(c.Before) && g.After == int(c.After) && g.Version == int(c.Version) &&
			int64(c.T1)-g.T0 <= wire.MaxGroupSpanNS {
			g.N++
			g.T1 = int64(c.T1)
			return groups
		}
	}
	return append(groups, wire.CallGroup{TID: tid, Before: int(c.Before), After: int(c.After),
		Version: int(c.Version), N: 1, T0: int64(c.T0), T1: int64(c.T1)})
}

// Sleeper is a sleeper process's main: it sleeps in read(2) on stdin, far
// from the patched functions, until stdin closes.
func Sleeper() int {
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	return 0
}
