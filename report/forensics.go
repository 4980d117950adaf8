package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/klptest/klptest/check"
	"github.com/klptest/klptest/wire"
)

// SysrqDump returns the sysrq-t task dump a forensics record points at:
// the trace's kernel log lines from its first record to its last, from the
// "Show State" header on when the header is there.
func SysrqDump(tr *wire.Trace, f wire.Forensics) []string {
	if f.SysrqSeq == 0 {
		return nil
	}
	var out []string
	for _, l := range tr.Kmsg {
		if l.Seq < f.SysrqSeq || (f.SysrqEnd != 0 && l.Seq > f.SysrqEnd) {
			continue
		}
		msg := strings.TrimRight(l.Msg, " ")
		// "sysrq: Show State" ("SysRq : Show State" before 5.x).
		if strings.Contains(msg, "Show State") {
			out = out[:0]
		}
		out = append(out, msg)
	}
	return out
}

// SysrqTask returns the lines of the sysrq-t dump that describe task pid:
// its header and its call trace.
func SysrqTask(dump []string, pid int) []string {
	for i, l := range dump {
		if _, _, p, ok := check.SysrqTaskHeader(l); !ok || p != pid {
			continue
		}
		out := []string{l}
		for _, s := range dump[i+1:] {
			if _, _, _, next := check.SysrqTaskHeader(s); next || !(strings.HasPrefix(s, " ") || strings.HasPrefix(s, "Call Trace") || strings.HasPrefix(s, "\t")) {
				break
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}

// ForensicsText renders a stall's evidence for a person: the tasks that
// held the transition open with their stacks and their part of the sysrq-t
// dump, and the livepatch sysfs tree. indent prefixes every line.
func ForensicsText(tr *wire.Trace, f wire.Forensics, indent string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, indent+format+"\n", a...) }
	p("forensics: %s (goal %d, %s)", f.Reason, f.Goal, f.Patch)
	dump := SysrqDump(tr, f)
	for _, t := range f.Blocking {
		state := "?"
		if t.Task.Pending != nil {
			state = map[bool]string{true: "pending", false: "not pending"}[*t.Task.Pending]
		}
		p("  blocking %s: patch_state %d, %s, sched %s, wchan %s", t.Task.Name(), t.Task.State, state, orDash(t.Sched), orDash(t.Wchan))
		for _, fr := range t.Stack {
			p("      %s", fr)
		}
		if t.Err != "" {
			p("      (%s)", t.Err)
		}
		if !t.Task.Idle {
			if seg := SysrqTask(dump, t.Task.PID); len(seg) > 0 {
				p("    in the sysrq-t dump:")
				for _, l := range seg {
					p("      %s", l)
				}
			}
		}
	}
	if f.More > 0 {
		p("  and %d more blocking tasks (not listed)", f.More)
	}
	switch {
	case f.SysrqErr != "":
		p("  sysrq-t: not taken: %s", f.SysrqErr)
	case len(dump) > 0 && f.SysrqLost > 0:
		p("  sysrq-t: %d lines in the trace's kernel log, seq %d to %d; %d records lost (the kernel's log ring overran)", len(dump), f.SysrqSeq, f.SysrqEnd, f.SysrqLost)
	case len(dump) > 0:
		p("  sysrq-t: %d lines in the trace's kernel log, seq %d to %d", len(dump), f.SysrqSeq, f.SysrqEnd)
	default:
		p("  sysrq-t: triggered, but no dump reached the kernel log (CONFIG_MAGIC_SYSRQ?)")
	}
	if len(f.Sysfs) > 0 {
		keys := make([]string, 0, len(f.Sysfs))
		for k := range f.Sysfs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		p("  /sys/kernel/livepatch:")
		for _, k := range keys {
			p("    %s = %s", k, f.Sysfs[k])
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
