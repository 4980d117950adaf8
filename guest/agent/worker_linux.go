package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klptest/klptest/wire"
	"golang.org/x/sys/unix"
)

// chainArg as a worker's fourth argument makes it a chain worker: argv is
// then [agent, WorkerArg, THREADS, MODULE, chainArg, SPIN_US, CROSS].
const chainArg = "chain"

// Worker is a worker process's main: argv is [agent, WorkerArg, THREADS,
// MODULE], or a chain worker's (chainArg).
// Each thread calls klpt_func() (or the chain) in a loop, grouping
// identical consecutive results. It stops when stdin closes and writes its
// groups to stdout.
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
	var chain *klptChainCall
	if len(args) == 5 && args[2] == chainArg {
		spin, err := strconv.Atoi(args[3])
		cross, err2 := strconv.ParseBool(args[4])
		if err != nil || err2 != nil {
			fmt.Fprintf(os.Stderr, "worker: bad chain arguments %q\n", args[2:])
			return 2
		}
		chain = &klptChainCall{SpinUs: int32(spin), Cross: int32(b2i(cross))}
	}
	var (
		mu     sync.Mutex
		all    []wire.CallGroup
		chains []wire.ChainGroup
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
			if chain != nil {
				g, err := chainLoop(t, *chain, module, tid, &stop)
				mu.Lock()
				chains = append(chains, g...)
				if err != nil {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
				return
			}
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
	json.NewEncoder(os.Stdout).Encode(workerResult{Calls: all, Chains: chains, Errors: errs})
	return 0
}

type workerResult struct {
	Calls  []wire.CallGroup  `json:"calls"`
	Chains []wire.ChainGroup `json:"chains,omitempty"`
	Errors []string          `json:"errors"`
}

// chainLoop runs one thread's chain calls until stop. Each call spins in
// the outer function; between calls the thread sleeps briefly, so that the
// sampler keeps its rate on two vCPUs and the task is also seen outside
// the chain.
func chainLoop(t *target, spec klptChainCall, module string, tid int, stop *atomic.Bool) ([]wire.ChainGroup, error) {
	var groups []wire.ChainGroup
	for !stop.Load() {
		c, err := t.chain(spec)
		if err != nil {
			return groups, fmt.Errorf("worker %d: chain: %w", tid, err)
		}
		groups = addChain(groups, tid, module, spec.Cross == 1, c)
		time.Sleep(200 * time.Microsecond)
	}
	return groups, nil
}

// addChain extends the last group when the call saw the same thing and the
// group stays within wire.MaxGroupSpanNS, else starts a new one.
func addChain(groups []wire.ChainGroup, tid int, module string, cross bool, c klptChainCall) []wire.ChainGroup {
	vs := c.versions()
	if n := len(groups); n > 0 {
		g := &groups[n-1]
		if g.Before == int(c.Before) && g.After == int(c.After) && slices.Equal(g.Versions, vs) &&
			int64(c.T1)-g.T0 <= wire.MaxGroupSpanNS {
			g.N++
			g.T1 = int64(c.T1)
			return groups
		}
	}
	g := wire.ChainGroup{TID: tid, Cross: cross, Before: int(c.Before), After: int(c.After),
		Versions: vs, N: 1, T0: int64(c.T0), T1: int64(c.T1)}
	if module != "klpt_target" {
		g.Target = module
	}
	return append(groups, g)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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
