package check

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/klptest/klptest/wire"
)

// summaryTasks and summaryFrames bound how much of a stall's evidence a
// violation quotes; the report shows all of it.
const (
	summaryTasks  = 3
	summaryFrames = 4
)

// ForensicsSummary says in one line which tasks held a stalled transition
// open and where they were: the tasks behind the goal, each with its
// scheduler state, pending flag and top kernel stack frames.
func ForensicsSummary(f wire.Forensics) string {
	n := len(f.Blocking) + f.More
	if n == 0 {
		return "the probe saw no task behind the goal"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d task%s held it open: ", n, map[bool]string{true: "", false: "s"}[n == 1])
	for i, t := range f.Blocking {
		if i == summaryTasks {
			fmt.Fprintf(&b, "; and %d more", n-summaryTasks)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(t.Task.Name())
		var attrs []string
		if t.Sched != "" {
			attrs = append(attrs, "state "+t.Sched)
		}
		if t.Task.Pending != nil {
			attrs = append(attrs, map[bool]string{true: "pending", false: "not pending"}[*t.Task.Pending])
		}
		attrs = append(attrs, "patch_state "+fmt.Sprint(t.Task.State))
		fmt.Fprintf(&b, " (%s)", strings.Join(attrs, ", "))
		switch {
		case len(t.Stack) > 0:
			frames := t.Stack
			if len(frames) > summaryFrames {
				frames = frames[:summaryFrames]
			}
			var fs []string
			for _, fr := range frames {
				fs = append(fs, StackFrame(fr))
			}
			fmt.Fprintf(&b, " in %s", strings.Join(fs, " < "))
		case t.Wchan != "" && t.Wchan != "0":
			fmt.Fprintf(&b, " waiting in %s", t.Wchan)
		}
	}
	return b.String()
}

// StackFrame trims a /proc/PID/stack line, "[<0>] klpt_park_func+0x5c/0x90
// [klpt_target]", to its symbol and module.
func StackFrame(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "[<") {
		if i := strings.Index(line, "] "); i >= 0 {
			line = line[i+2:]
		}
	}
	return line
}

var sysrqTaskRE = regexp.MustCompile(`^task:(.*?)\s+state:(\S+).*?\bpid:\s*([0-9]+)`)

// SysrqTaskHeader parses the first line of a task in a sysrq-t or sysrq-w
// dump, "task:NAME state:D stack:0 pid:1 ...".
func SysrqTaskHeader(line string) (comm, state string, pid int, ok bool) {
	m := sysrqTaskRE.FindStringSubmatch(line)
	if m == nil {
		return "", "", 0, false
	}
	pid, _ = strconv.Atoi(m[3])
	return m[1], m[2], pid, true
}

// consoleTimeRE is printk's time prefix on a console line.
var consoleTimeRE = regexp.MustCompile(`^\[\s*[0-9]+\.[0-9]+\] ?`)

// SysrqBlocked summarises the uninterruptible (D) tasks of a sysrq dump
// read off the console: "NAME[PID] in f1 < f2 < ...", the scheduler's own
// frames and unreliable ("?") frames left out.
func SysrqBlocked(console []string) []string {
	var out []string
	seen := map[int]bool{}
	for i := 0; i < len(console); i++ {
		comm, state, pid, ok := SysrqTaskHeader(consoleTimeRE.ReplaceAllString(console[i], ""))
		if !ok || state != "D" || seen[pid] {
			continue
		}
		seen[pid] = true
		var frames []string
		for _, l := range console[i+1:] {
			l = strings.TrimSpace(consoleTimeRE.ReplaceAllString(l, ""))
			if _, _, _, next := SysrqTaskHeader(l); next || l == "</TASK>" || strings.HasPrefix(l, "task:") {
				break
			}
			if l == "" || l == "Call Trace:" || l == "<TASK>" || strings.HasPrefix(l, "? ") ||
				strings.HasPrefix(l, "__schedule+") || strings.HasPrefix(l, "schedule+") || strings.HasPrefix(l, "schedule_timeout+") {
				continue
			}
			if len(frames) == summaryFrames {
				break
			}
			frames = append(frames, l)
		}
		s := fmt.Sprintf("%s[%d]", comm, pid)
		if len(frames) > 0 {
			s += " in " + strings.Join(frames, " < ")
		}
		out = append(out, s)
	}
	return out
}
