package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klptest/klptest/wire"
)

// maxBlocking bounds the tasks whose stacks a forensics event carries: a
// stalled fork storm can leave thousands behind, and the first few name
// the problem.
const maxBlocking = 64

// forensics collects the evidence of a stalled transition while the stall
// still holds: the tasks behind the goal with their stacks, the livepatch
// sysfs tree and a sysrq-t dump of every task. With klptest.vmcore=1 the
// agent then waits for the host to dump guest memory before going on.
func (r *caseRun) forensics(reason string) {
	f := &wire.Forensics{Reason: reason, T: now(), Goal: r.goal, Patch: r.patch}
	if b, err := os.ReadFile("/proc/klpt_tasks"); err == nil {
		if s, err := ParseProbe(b); err == nil {
			for _, t := range s.Tasks {
				if t.State == r.goal || t.State == wire.StateUndefined {
					continue
				}
				if len(f.Blocking) == maxBlocking {
					f.More++
					continue
				}
				f.Blocking = append(f.Blocking, blockingTask(t))
			}
		}
	}
	f.Sysfs = livepatchTree()
	// The dump goes to the kernel log; the trace gets it through kmsg,
	// flushed first so that the dump's first record is known.
	r.drainKmsg()
	lost := 0
	if r.km != nil {
		lost = r.km.lost
	}
	// Off the console: the dump is thousands of lines (its scheduler
	// part at the default level), which a TCG guest's UART takes a long
	// time to print, and a shell on that console (--shell-on-fail) would
	// wait behind them. kmsg has it all.
	restore := quietConsole()
	if err := os.WriteFile("/proc/sysrq-trigger", []byte("t"), 0); err != nil {
		f.SysrqErr = err.Error()
	} else {
		f.SysrqSeq, f.SysrqEnd = r.drainKmsgQuiet()
		if r.km != nil {
			f.SysrqLost = r.km.lost - lost
		}
	}
	restore()
	f.Paused = params().Vmcore
	r.ev(wire.Event{Type: wire.EvForensics, Forensics: f})
	if f.Paused {
		if err := r.e.await(wire.ReplyResume, 5*time.Minute); err != nil {
			r.fail(fmt.Errorf("forensics: waiting for the host's memory dump: %w", err))
		}
	}
}

// blockingTask reads what /proc says of a task behind the goal.
func blockingTask(t wire.TaskState) wire.BlockingTask {
	bt := wire.BlockingTask{Task: t}
	if t.Idle {
		bt.Err = "idle task: no /proc entry; see the sysrq-t dump"
		return bt
	}
	dir := fmt.Sprintf("/proc/%d/task/%d", t.TGID, t.PID)
	if b, err := os.ReadFile(dir + "/stat"); err == nil {
		// "pid (comm) S ...": comm may hold spaces and parentheses.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
			bt.Sched = string(b[i+2])
		}
	}
	if b, err := os.ReadFile(dir + "/wchan"); err == nil {
		bt.Wchan = strings.TrimSpace(string(b))
	}
	b, err := os.ReadFile(dir + "/stack")
	if err != nil {
		bt.Err = "read stack: " + err.Error()
		return bt
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			bt.Stack = append(bt.Stack, l)
		}
	}
	return bt
}

// livepatchTree reads every readable attribute under /sys/kernel/livepatch.
func livepatchTree() map[string]string {
	const root = "/sys/kernel/livepatch"
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // write-only: force
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = strings.TrimSpace(string(b))
		return nil
	})
	return out
}

// drainKmsg emits the kernel log read so far for this case.
func (r *caseRun) drainKmsg() {
	if r.km == nil {
		return
	}
	if lines := r.km.drain(); len(lines) > 0 {
		r.ev(wire.Event{Type: wire.EvKmsg, Kmsg: lines})
	}
}

// drainKmsgQuiet waits until the kernel log stops growing (the console may
// still be printing a task dump), emits what came, and returns its first
// and last records' sequence numbers; 0 when nothing came.
func (r *caseRun) drainKmsgQuiet() (first, last uint64) {
	if r.km == nil {
		return 0, 0
	}
	// A kernel that logs without pause (a warning in a loop) would never
	// go quiet: the dump is done within seconds anyway.
	deadline := time.Now().Add(10 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); {
		lines := r.km.drain()
		if len(lines) == 0 {
			quiet++
			time.Sleep(100 * time.Millisecond)
			continue
		}
		quiet = 0
		if first == 0 {
			first = lines[0].Seq
		}
		last = lines[len(lines)-1].Seq
		r.ev(wire.Event{Type: wire.EvKmsg, Kmsg: lines})
	}
	return first, last
}

// quietConsole lowers the console loglevel (the first field of
// /proc/sys/kernel/printk) to 1, emergencies only, and returns what puts
// it back.
func quietConsole() (restore func()) {
	const path = "/proc/sys/kernel/printk"
	b, err := os.ReadFile(path)
	fs := strings.Fields(string(b))
	if err != nil || len(fs) == 0 {
		return func() {}
	}
	if os.WriteFile(path, []byte("1"), 0) != nil {
		return func() {}
	}
	return func() { os.WriteFile(path, []byte(fs[0]), 0) }
}
