package mutants

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/runner"
)

func verdict(c string, vs ...rule.Violation) runner.Verdict {
	for i := range vs {
		vs[i].Case = c
	}
	return runner.Verdict{Case: c, Pass: len(vs) == 0, Violations: vs}
}

func result(vs ...runner.Verdict) *runner.Result { return &runner.Result{Verdicts: vs} }

func TestClassify(t *testing.T) {
	warn := rule.Violation{Rule: rule.KernelLog, Msg: "WARNING at kernel/livepatch/transition.c:123"}
	taint := rule.Violation{Rule: rule.Taint, Msg: "unexpected taint W"}
	cut := rule.Violation{Rule: rule.Trace, Msg: "the VM ended during the case", CutShort: "kernel panic"}
	unfinished := rule.Violation{Rule: rule.Trace, Msg: "the case did not finish"}
	cons := rule.Violation{Rule: rule.Consistent, Task: "worker-3", Msg: "ran version 2 in state 0"}
	pend := rule.Violation{Rule: rule.Pending, Msg: "flag set at the goal"}
	trace := rule.Violation{Rule: rule.Trace, Msg: "patch started while the previous transition was not seen complete"}
	cover := rule.Violation{Rule: rule.Coverage, Msg: "no fork from a pending parent"}
	infra := &runner.InfraError{Step: "kernel", Err: errors.New("make: *** [transition.o] Error 1")}
	tests := []struct {
		name string
		res  *runner.Result
		err  error
		want Classification
	}{
		{"every case passed", result(verdict("patch"), verdict("fork-storm")), nil, Classification{Kind: Survived}},
		{"named rules, sorted, once each", result(verdict("patch", pend, cons, pend), verdict("fork-storm", warn, cons)), nil,
			Classification{Kind: Killed, Rules: []rule.Name{rule.Consistent, rule.Pending}}},
		{"a trace rule that is not a crash", result(verdict("replace", trace)), nil, Classification{Kind: Killed, Rules: []rule.Name{rule.Trace}}},
		{"a named rule beside coverage", result(verdict("fork-storm", cover, pend)), nil, Classification{Kind: Killed, Rules: []rule.Name{rule.Pending}}},
		{"a named rule before an infra error", result(verdict("patch", cons)), infra, Classification{Kind: Killed, Rules: []rule.Name{rule.Consistent}}},
		{"only the kernel log and the taint", result(verdict("patch", warn, taint)), nil,
			Classification{Kind: CrashOnly, Rules: []rule.Name{rule.KernelLog, rule.Taint}, Detail: "patch: " + warn.String()}},
		{"a panic cuts the case short", result(verdict("signal", cut)), nil,
			Classification{Kind: CrashOnly, Rules: []rule.Name{rule.Trace}, Detail: "signal: [trace]: the VM ended during the case: kernel panic"}},
		{"a VM that did not finish", result(verdict("kthread", unfinished)), nil,
			Classification{Kind: CrashOnly, Rules: []rule.Name{rule.Trace}, Detail: "kthread: [trace]: the case did not finish"}},
		{"the kernel did not build", result(), infra, Classification{Kind: CouldNotTest, Detail: "kernel: make: *** [transition.o] Error 1"}},
		{"another error", nil, fmt.Errorf("validate: unknown case"), Classification{Kind: CouldNotTest, Detail: "validate: unknown case"}},
		{"coverage only", result(verdict("fork-storm", cover), verdict("patch")), nil,
			Classification{Kind: CouldNotTest, Rules: []rule.Name{rule.Coverage}, Detail: "fork-storm: [could-not-test]: no fork from a pending parent"}},
		{"no case ran", result(), nil, Classification{Kind: CouldNotTest, Detail: "no case ran"}},
		{"a failure without a violation", result(runner.Verdict{Case: "patch"}), nil,
			Classification{Kind: CouldNotTest, Detail: "a case failed without a violation (patch)"}},
	}
	for _, tt := range tests {
		if got := Classify(tt.res, tt.err); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Classify = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
