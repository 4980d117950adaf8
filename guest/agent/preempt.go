package agent

import (
	"strings"

	"github.com/klptest/klptest/wire"
)

// preemptFile is where a PREEMPT_DYNAMIC kernel shows and takes its
// preemption model ("none (voluntary) full lazy": the current one in
// parentheses).
const preemptFile = "/sys/kernel/debug/sched/preempt"

// currentPreempt returns the model in parentheses in a read of
// preemptFile; ok is false when there is none.
func currentPreempt(b string) (model string, ok bool) {
	for _, f := range strings.Fields(b) {
		if len(f) > 2 && f[0] == '(' && f[len(f)-1] == ')' {
			return f[1 : len(f)-1], true
		}
	}
	return "", false
}

// builtPreempt is the model a kernel was built with, from its uname
// version ("#1 SMP PREEMPT_DYNAMIC ..."), for a kernel whose model cannot
// be read at run time: a PREEMPT_DYNAMIC kernel's is then unknown ("").
func builtPreempt(version string) string {
	for _, f := range strings.Fields(version) {
		switch f {
		case "PREEMPT_RT":
			return wire.PreemptRT
		case "PREEMPT_LAZY":
			return wire.PreemptLazy
		case "PREEMPT":
			return wire.PreemptFull
		case "PREEMPT_DYNAMIC":
			return ""
		}
	}
	return wire.PreemptNone
}
