package agent

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/klptest/klptest/wire"
	"golang.org/x/sys/unix"
)

// TasksArg as argv[1] makes the agent binary a holder of idle threads for
// klptest bench: [agent, TasksArg, N]. Threads, not processes: ten
// thousand processes would each copy the agent's page tables, and the
// point is the number of tasks a snapshot walks, not memory.
const TasksArg = "klptest-tasks"

// Tasks starts N threads that sleep in the kernel, says "ready", and exits
// when its stdin closes.
func Tasks(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: klptest-tasks N")
		return 2
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "klptest-tasks: bad count %q\n", args[0])
		return 2
	}
	debug.SetMaxThreads(n + 1000)
	up := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		go func() {
			// Locked and blocked in the kernel, each goroutine holds
			// an OS thread of its own for good.
			runtime.LockOSThread()
			up <- struct{}{}
			for {
				unix.Ppoll(nil, nil, nil)
			}
		}()
	}
	for i := 0; i < n; i++ {
		<-up
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// Bounds of one measurement: enough snapshots for a median, within a
// time that a /proc walk of ten thousand tasks on TCG fits.
const (
	benchSnapshots = 30
	benchMinimum   = 3
	benchBudget    = 15 * time.Second
)

// benchSnapshotCost measures, for each task count, how long one snapshot
// of every task takes through the probe and through /proc, and emits each
// measurement. Counts below what the guest runs already measure it as is.
func benchSnapshotCost(e *emitter, spec string) error {
	for _, f := range strings.Split(spec, ",") {
		want, err := strconv.Atoi(f)
		if err != nil || want <= 0 {
			return fmt.Errorf("klptest.bench_snapshots: bad task count %q", f)
		}
		s, err := readProbe()
		if err != nil {
			return err
		}
		var holder *child
		if extra := want - len(s.Tasks); extra > 0 {
			if holder, err = startChild(TasksArg, strconv.Itoa(extra)); err != nil {
				return fmt.Errorf("start %d tasks: %w", extra, err)
			}
		}
		for _, src := range []string{wire.SourceProbe, wire.SourceProc} {
			c := measureSnapshots(src)
			e.emit(wire.Event{Type: wire.EvBench, SnapshotCost: &c})
		}
		if holder != nil {
			holder.stdin.Close()
			holder.cmd.Wait()
		}
	}
	return nil
}

func readProbe() (wire.Snapshot, error) {
	b, err := os.ReadFile("/proc/klpt_tasks")
	if err != nil {
		return wire.Snapshot{}, err
	}
	return ParseProbe(b)
}

// measureSnapshots times snapshots through src as the sampler takes them:
// the probe's read and its parsing, or the /proc walk.
func measureSnapshots(src string) wire.SnapshotCost {
	c := wire.SnapshotCost{Source: src}
	deadline := time.Now().Add(benchBudget)
	for len(c.Durations) < benchSnapshots && (len(c.Durations) < benchMinimum || time.Now().Before(deadline)) {
		t0 := now()
		var s wire.Snapshot
		if src == wire.SourceProbe {
			var err error
			if s, err = readProbe(); err != nil {
				c.Err = err.Error()
				return c
			}
		} else {
			s = procSnapshot()
		}
		c.Durations = append(c.Durations, now()-t0)
		if c.Tasks == 0 {
			c.Tasks = len(s.Tasks)
		}
	}
	return c
}
