// Package rule owns what a broken rule is: the one Violation type that the
// shared invariants (package check) and each case's own checks (package
// cases) return, and the one set of rule names they report under.
//
// It is stdlib-only and pure: cases builds into the guest agent, and cases
// imports it. A Violation is a value, not an error, so that no error chain
// can carry it and, wrapped once more, lose it: a lost violation reads as a
// pass.
package rule

import (
	"fmt"
	"strings"
)

// Name names a rule, as a violation and a demo case give it.
type Name string

// The shared invariants, checked on every case (package check).
const (
	Trace      Name = "trace"              // the trace itself is incomplete
	Agent      Name = "agent"              // the guest could not carry out a step
	Outside    Name = "outside-transition" // -1 and no pending flag between transitions
	Monotonic  Name = "monotonic"          // 0/1 during a transition, only towards the goal
	Completion Name = "completion-order"   // no task left behind once completion began
	Pending    Name = "pending-flag"       // TIF_PATCH_PENDING set iff state differs from goal
	Consistent Name = "consistency"        // a call ran the version its task's state says
	EndState   Name = "end-state"          // completes within the bound; sysfs matches the goal
	Vmlinux    Name = "vmlinux-patch"      // the core-kernel half of the patch took effect
	KernelLog  Name = "kernel-log"         // no WARNING, BUG, Oops, lockdep, hung task, RCU stall
	Taint      Name = "taint"              // only the expected taints appear
	Fork       Name = "fork-inherit"       // a child starts with its parent's state and flag
	Chain      Name = "chain-consistency"  // a call chain ran one set of functions, its state's
	Unsafe     Name = "unsafe-switch"      // no task is switched inside a chain of patched functions
)

// The cases' own rules (package cases).
const (
	Parked   Name = "parked-task" // what a parked task did, and when
	Fallback Name = "fallback"    // the kernel's signal/wake-up fallback
	// SchedSwitch: a CPU-bound kernel thread is switched by the
	// scheduler's switch point (klp_sched_try_switch()).
	SchedSwitch Name = "sched-switch"
	// ExitPath: an exiting thread off the task list runs the version
	// its state picks, and never a removed patch's code (the exits case).
	ExitPath  Name = "exit-path"
	Steps     Name = "steps"     // the case's steps happened as scripted
	Replace   Name = "replace"   // a replaced patch's functions are no longer reached
	Sysfs     Name = "sysfs"     // /sys/kernel/livepatch reads as the patches applied say
	Kselftest Name = "kselftest" // the kernel's own selftest script passed
	// Coverage: the case never produced the situation it exists for, so
	// it could not test what it names: never a pass.
	Coverage Name = "could-not-test"
)

// Violation is one broken rule: which, where (task, moment), and its
// evidence in fields of their own, from which Text renders the one text
// every report shows. The JSON names are the run document's (docs/results.md).
type Violation struct {
	Case string `json:"case"`
	Rule Name   `json:"rule"`
	Task string `json:"task,omitempty"`
	T    int64  `json:"t_ns,omitempty"` // guest CLOCK_MONOTONIC; 0 if not tied to a moment
	Msg  string `json:"msg"`
	// CutShort is why the case did not run to its end (no case-end
	// event; the runner, knowing more, says how the VM ended); set only on
	// the violation of a case cut short.
	CutShort string `json:"cut_short,omitempty"`
	// Excerpt is the kernel log a violation quotes: a splat's lines, its
	// register dump left out.
	Excerpt []string `json:"excerpt,omitempty"`
	// Decoded is Excerpt as the kernel's scripts/decode_stacktrace.sh
	// decoded it (addresses to file:line), when the runner could.
	Decoded []string `json:"decoded,omitempty"`
	// More counts the further times the same violation was seen.
	More int `json:"more,omitempty"`
}

// Text is the violation's message with its evidence: the reason a case
// was cut short, the excerpt, the repeat count and the decoded frames.
func (v Violation) Text() string {
	var b strings.Builder
	b.WriteString(v.Msg)
	if v.CutShort != "" {
		b.WriteString(": " + v.CutShort)
	}
	if len(v.Excerpt) > 0 {
		b.WriteString(":\n    " + strings.Join(v.Excerpt, "\n    "))
	}
	if v.More > 0 {
		fmt.Fprintf(&b, " (and %d more times)", v.More)
	}
	if len(v.Decoded) > 0 {
		b.WriteString("\ndecoded (scripts/decode_stacktrace.sh):\n    " + strings.Join(v.Decoded, "\n    "))
	}
	return b.String()
}

// String is the violation as the reports list it: "[rule] task at T: text".
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]", v.Rule)
	if v.Task != "" {
		fmt.Fprintf(&b, " %s", v.Task)
	}
	if v.T != 0 {
		fmt.Fprintf(&b, " at %.6fs", float64(v.T)/1e9)
	}
	fmt.Fprintf(&b, ": %s", v.Text())
	return b.String()
}
