package check

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// badLog matches the kernel log lines that mean the kernel went wrong.
var badLog = []struct {
	what string
	re   *regexp.Regexp
}{
	{"WARNING", regexp.MustCompile(`^WARNING: `)},
	{"BUG", regexp.MustCompile(`^BUG: |kernel BUG at`)},
	// arm64 says "Unable to handle kernel ..." then "Internal error: Oops".
	{"Oops", regexp.MustCompile(`^Oops: |^Oops\b|general protection fault|^Internal error: Oops|^Unable to handle kernel `)},
	{"panic", regexp.MustCompile(`^Kernel panic`)},
	{"lockdep", regexp.MustCompile(`possible circular locking dependency|possible recursive locking|inconsistent lock state|suspicious RCU usage|bad unlock balance`)},
	{"hung task", regexp.MustCompile(`blocked for more than [0-9]+ seconds`)},
	{"RCU stall", regexp.MustCompile(`rcu: INFO: .* detected stalls?|self-detected stall on CPU|detected stalls on CPUs`)},
	{"soft lockup", regexp.MustCompile(`soft lockup - CPU`)},
	{"KASAN", regexp.MustCompile(`^BUG: KASAN: |KASAN: `)},
	{"UBSAN", regexp.MustCompile(`UBSAN: `)},
	{"KFENCE", regexp.MustCompile(`BUG: KFENCE: `)},
}

// registerLine matches a register dump line (x86 and arm64): the
// excerpt leaves those out, so that the call trace fits.
var registerLine = regexp.MustCompile(`^\s*(R(AX|BX|CX|DX|SI|DI|BP|SP)|R[0-9]+|[CDEFGS]S|CR[0-9]|DR[0-9]|x[0-9]+|sp|pstate|Code)\s*:`)

// excerpt returns the splat that starts at line i, at most n lines: its
// header, where it happened (RIP, pc, lr), and its call trace, without the
// register dump; up to the end-of-trace marker or the next splat.
func excerpt(lines []wire.KmsgLine, i, n int) []string {
	var b []string
	for j := i; j < len(lines) && len(b) < n; j++ {
		msg := strings.TrimRight(lines[j].Msg, " ")
		if j > i && isSplatStart(msg) {
			break
		}
		if registerLine.MatchString(msg) {
			continue
		}
		b = append(b, msg)
		if strings.Contains(msg, "---[ end trace") {
			break
		}
	}
	return b
}

// consoleStamp is the time stamp the kernel puts before a console line.
var consoleStamp = regexp.MustCompile(`^\[\s*([0-9]+)\.([0-9]{6})\]\s?`)

// WithConsole returns tr with the console's lines, from the first splat
// on, added to its kernel log as caseName's: what the agent, dead with the
// VM, could not read from /dev/kmsg. A line's time stamp, where the kernel
// prints one (not without CONFIG_PRINTK_TIME), is taken off into TS.
func WithConsole(tr *wire.Trace, caseName, console string) *wire.Trace {
	c := *tr
	c.Kmsg = slices.Clone(tr.Kmsg)
	crashed := false
	for _, l := range strings.Split(console, "\n") {
		msg := strings.TrimRight(l, "\r")
		var ts uint64
		if m := consoleStamp.FindStringSubmatch(msg); m != nil {
			s, _ := strconv.ParseUint(m[1], 10, 64)
			us, _ := strconv.ParseUint(m[2], 10, 64)
			ts, msg = s*1_000_000+us, msg[len(m[0]):]
		}
		crashed = crashed || isSplatStart(msg)
		if crashed && msg != "" {
			c.Kmsg = append(c.Kmsg, wire.KmsgLine{TS: ts, Msg: msg, Case: caseName})
		}
	}
	return &c
}

func isSplatStart(msg string) bool {
	for _, b := range badLog {
		if b.re.MatchString(msg) {
			return true
		}
	}
	return false
}

func checkKernelLog(tr *wire.Trace, ct *wire.CaseTrace, p Policy, add func(rule.Violation)) {
	if !p.KernelLog {
		return
	}
	for i, l := range tr.Kmsg {
		// Lines from before any case (boot, loading klptest's modules)
		// count against every case of the boot.
		if l.Case != ct.Name && l.Case != "" {
			continue
		}
		for _, b := range badLog {
			if b.re.MatchString(l.Msg) {
				add(rule.Violation{Rule: rule.KernelLog, Msg: fmt.Sprintf("%s in the kernel log at [%d.%06d]", b.what, l.TS/1e6, l.TS%1e6),
					Excerpt: excerpt(tr.Kmsg, i, 40)})
				break
			}
		}
	}
}

// Taint bits a livepatch test is expected to set: TAINT_OOT_MODULE (O),
// TAINT_UNSIGNED_MODULE (E), TAINT_LIVEPATCH (K).
const expectedTaints = 1<<12 | 1<<13 | 1<<15

var taintLetters = map[int]string{0: "P", 1: "F", 2: "S", 3: "R", 4: "M", 5: "B", 6: "U", 7: "D", 8: "A", 9: "W", 10: "C", 11: "I", 12: "O", 13: "E", 14: "L", 15: "K", 16: "X", 17: "T", 18: "N", 19: "J"}

func checkTaint(tr *wire.Trace, ct *wire.CaseTrace, p Policy, add func(rule.Violation)) {
	if !p.Taint || tr.Hello == nil || ct.End == nil {
		return
	}
	base := tr.Hello.Taint
	if ct.Start != nil {
		base = ct.Start.Taint // cases share a boot: judge only this one's
	}
	added := ct.End.Taint &^ base &^ expectedTaints
	for bit := 0; bit < 64; bit++ {
		if added&(1<<bit) != 0 {
			add(rule.Violation{Rule: rule.Taint, Msg: fmt.Sprintf("the kernel became tainted %s (bit %d) during the case", taintLetters[bit], bit)})
		}
	}
}
