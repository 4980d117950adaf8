package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/internal/gzfile"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// recordedTrace is the trace of a recorded passing run of the patch case
// (Debian 6.1), and the case.
func recordedTrace(t *testing.T) (*wire.Trace, []cases.Case) {
	t.Helper()
	// The document package reads these documents, but it imports runner:
	// the test takes the result out of the JSON itself.
	b, err := gzfile.Read("../document/testdata/run-v1-debian-6.1.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Result *Result }
	if err := json.Unmarshal(b, &d); err != nil || d.Result == nil || len(d.Result.Boots) == 0 {
		t.Fatalf("recorded run document: %v", err)
	}
	tr := d.Result.Boots[0].Trace
	cs, err := cases.Lookup([]string{tr.Cases[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	return tr, cs
}

// A failing trace fails its verdict whatever error the run's
// infrastructure reports beside it, wrapped or gathered however: the
// violations travel as values, never inside an error that a wrap could
// hide.
func TestVerdictFailsWhateverWraps(t *testing.T) {
	lost := errors.New("result stream ended without a done event")
	for _, tt := range []struct {
		name      string
		streamErr error
	}{
		{"no stream error", nil},
		{"a stream error", lost},
		{"wrapped", fmt.Errorf("collect: %w", lost)},
		{"gathered", multierror.Append(nil, lost, errors.New("qmp: connection closed"))},
		{"gathered, wrapped", fmt.Errorf("boot 1: %w", multierror.Append(nil, fmt.Errorf("collect: %w", lost)))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, cs := recordedTrace(t)
			if vs := verdicts(tr, cs, nil, tt.streamErr, ""); len(vs) != 1 || !vs[0].Pass {
				t.Fatalf("the recorded passing run does not pass: %+v", vs)
			}
			tr.Kmsg = append(tr.Kmsg, wire.KmsgLine{Seq: 1 << 20, TS: 6_000_000, Prio: 4, Case: tr.Cases[0].Name,
				Msg: "WARNING: CPU: 1 PID: 45 at kernel/livepatch/transition.c:106 klp_complete_transition+0x1d4/0x250"})
			vs := verdicts(tr, cs, nil, tt.streamErr, "")
			if len(vs) != 1 || vs[0].Pass {
				t.Fatalf("a trace with a WARNING passed: %+v", vs)
			}
			var found bool
			for _, v := range vs[0].Violations {
				found = found || (v.Rule == rule.KernelLog && len(v.Excerpt) > 0)
			}
			if !found {
				t.Errorf("no kernel-log violation quoting the WARNING: %v", vs[0].Violations)
			}
		})
	}
}

// A case the VM ended during has one violation saying so, the runner's
// reason in place of the check's, found by its field, not its text.
func TestVerdictCutShort(t *testing.T) {
	for _, tt := range []struct {
		name      string
		exit      *vm.Exit
		streamErr error
		msg       string // what happened
		reason    string // in the reason
	}{
		{"the guest panicked", &vm.Exit{Reason: vm.ReasonGuestPanicked, Status: "exit status 0", Console: "[ 5.0] Kernel panic - not syncing: Fatal exception\n"}, nil,
			"the VM ended during the case", "kernel panic:\n[ 5.0] Kernel panic - not syncing"},
		{"the stream broke, the guest ran on", &vm.Exit{Reason: vm.ReasonShutdown, Status: "exit status 0"}, errors.New("result stream: truncated line"),
			"the result stream broke during the case (the guest ran on, and powered off)", "result stream: truncated line; QEMU shutdown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, cs := recordedTrace(t)
			tr.Cases[0].End = nil
			vs := verdicts(tr, cs, tt.exit, tt.streamErr, "")
			if len(vs) != 1 || vs[0].Pass {
				t.Fatalf("an unfinished case passed: %+v", vs)
			}
			var cut []rule.Violation
			for _, v := range vs[0].Violations {
				if v.CutShort != "" {
					cut = append(cut, v)
				}
				if strings.Contains(v.String(), "no case-end event") {
					t.Errorf("the check's bare reason is left: %v", v)
				}
			}
			if len(cut) != 1 {
				t.Fatalf("%d cut-short violations, want 1: %v", len(cut), vs[0].Violations)
			}
			if v := cut[0]; v.Rule != rule.Trace || v.Msg != tt.msg || !strings.Contains(v.CutShort, tt.reason) {
				t.Errorf("cut short: %+v\nwant rule %s, msg %q, a reason with %q", v, rule.Trace, tt.msg, tt.reason)
			}
			if last := vs[0].Violations[len(vs[0].Violations)-1]; last.CutShort == "" {
				t.Errorf("the reason is not the case's last violation, as it was: %v", vs[0].Violations)
			}
		})
	}
}
