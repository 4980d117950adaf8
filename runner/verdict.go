package runner

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/check"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// verdicts checks every requested case. A case the VM ended before or
// during fails, with the reason the VM ended.
func verdicts(tr *wire.Trace, cs []cases.Case, exit *vm.Exit, streamErr error, incomplete string) []Verdict {
	byName := map[string]*wire.CaseTrace{}
	for _, ct := range tr.Cases {
		byName[ct.Name] = ct
	}
	var out []Verdict
	for _, c := range cs {
		v := Verdict{Case: c.Name}
		ct := byName[c.Name]
		if ct == nil {
			v.Violations = append(v.Violations, rule.Violation{Case: c.Name, Rule: rule.Trace, Msg: "the case never started", CutShort: vmEnd(exit, streamErr, incomplete)})
		} else {
			judged := tr
			if ct.End == nil && c.Known != "" && exit != nil {
				judged = check.WithConsole(tr, ct.Name, exit.Console)
			}
			v.Violations = check.Case(judged, ct, c)
			if c.Counts != nil {
				v.Counts = map[string]int{} // none counted is a figure too
				maps.Copy(v.Counts, c.Counts(ct))
			}
			if f := check.Figures(ct, c); len(f) > 0 {
				if v.Counts == nil {
					v.Counts = map[string]int{}
				}
				maps.Copy(v.Counts, f)
			}
			if ct.End == nil {
				// The check knows only that the case-end event is
				// missing; this says how the VM ended.
				v.Violations = slices.DeleteFunc(v.Violations, func(x rule.Violation) bool { return x.CutShort != "" })
				what := "the VM ended during the case"
				if streamErr != nil && exit != nil && exit.Reason == vm.ReasonShutdown {
					what = "the result stream broke during the case (the guest ran on, and powered off)"
				}
				v.Violations = append(v.Violations, rule.Violation{Case: c.Name, Rule: rule.Trace, Msg: what, CutShort: vmEnd(exit, streamErr, incomplete)})
			}
		}
		for _, e := range tr.Errors {
			v.Violations = append(v.Violations, rule.Violation{Case: c.Name, Rule: rule.Agent, Msg: e})
		}
		v.Pass = len(v.Violations) == 0
		if v.Pass && ct != nil {
			v.Skip = ct.Skipped()
		}
		out = append(out, v)
	}
	return out
}

func vmEnd(exit *vm.Exit, streamErr error, incomplete string) string {
	var parts []string
	if incomplete != "" {
		parts = append(parts, incomplete)
	}
	if streamErr != nil {
		parts = append(parts, streamErr.Error())
	}
	if exit != nil {
		parts = append(parts, "QEMU "+exit.String())
		if exit.Reason == vm.ReasonGuestReset || exit.Reason == vm.ReasonGuestPanicked {
			parts = append(parts, "kernel panic:\n"+panicExcerpt(exit.Console))
		}
	}
	return strings.Join(parts, "; ")
}

// panicExcerpt returns the console from the panic's first line on.
func panicExcerpt(console string) string {
	lines := strings.Split(console, "\n")
	for i, l := range lines {
		if strings.Contains(l, "Kernel panic") || strings.Contains(l, "BUG:") || strings.Contains(l, "Oops") {
			start, end := i, i+40
			if end > len(lines) {
				end = len(lines)
			}
			return strings.Join(lines[start:end], "\n")
		}
	}
	return console
}

// agentStartError reports an agent that came up but could not start a
// case (the test modules refused by the kernel): klptest could not test,
// which says nothing about livepatch.
func agentStartError(tr *wire.Trace) error {
	if len(tr.Cases) > 0 || len(tr.Errors) == 0 {
		return nil
	}
	msg := strings.Join(tr.Errors, "; ")
	hint := ""
	switch {
	case strings.Contains(msg, "exec format error"), strings.Contains(msg, "invalid module format"):
		hint = ": the kernel refused the test modules' format; were they built against headers of another build than the booted image (see the kernel log for the vermagic)?"
	case strings.Contains(msg, "unknown symbol"), strings.Contains(msg, "no such file or directory"):
		hint = ": the test modules need symbols or files this kernel lacks"
	}
	return fmt.Errorf("the guest agent could not start the cases: %s%s", msg, hint)
}

// answerShellOnFail judges the case that just ended and tells the agent
// whether to open the shell: only after a failure. (A failed step opened
// one already, before the cleanup; the agent then declines.)
func answerShellOnFail(m machine, tr *wire.Trace, cs []cases.Case, name string, progress progressFunc) {
	reply := wire.ReplyGo
	for _, c := range cs {
		if c.Name != name || len(tr.Cases) == 0 {
			continue
		}
		if vs := check.Case(tr, tr.Cases[len(tr.Cases)-1], c); len(vs) > 0 {
			reply = wire.ReplyShell
			progress(StepShell, fmt.Sprintf("%s failed (%d violations): the shell is on the console; exit it to go on", name, len(vs)))
		}
	}
	if err := m.Reply(reply); err != nil {
		progress(StepShell, err.Error())
	}
}
