package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func exitsCase(t *testing.T, name string) cases.Case {
	t.Helper()
	c, err := cases.Lookup([]string{name})
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

// The exits case on debian:7.2, recorded: every exit-path call ran the
// version its state and the applied patches pick; threads exited inside
// transitions, and hundreds were in a patch's code when a replace or a
// disable took it away.
func TestRecordedExits(t *testing.T) {
	c := exitsCase(t, "exits")
	tr := load(t, "exits-debian-7.2.json.gz")
	ct := caseIn(tr, "exits")
	if vs := Case(tr, ct, c); len(vs) != 0 {
		t.Fatalf("a correct kernel's trace broke rules: %v", vs)
	}
	n := c.Counts(ct)
	for _, k := range []string{"exit-calls", "in-transition", "at-goal", "at-initial", "outlived-its-patch"} {
		if n[k] == 0 {
			t.Errorf("count %s is 0 (counts %v)", k, n)
		}
	}
	if n["in-removed-code"] != 0 {
		t.Errorf("in-removed-code %d: the exits case removes a module only after its threads left it", n["in-removed-code"])
	}
}

// Edited real traces: the rule fires on a call that ran another version
// than its stretch's or its state's, and the case says it could not test
// when no call came inside a transition. (No thread outliving its patch is
// exits-unload's to say: exits only counts them.)
func TestExitPathRule(t *testing.T) {
	c := exitsCase(t, "exits")
	replaced, _ := table.Patch(table.DefaultLivepatch)
	for _, tc := range []struct {
		name string
		edit func(ct *wire.CaseTrace) bool
		want rule.Name
		msg  string
	}{
		{"stable stretch, wrong version", func(ct *wire.CaseTrace) bool {
			for i, e := range ct.Exits {
				if e.Open == 0 && e.Version == replaced.Version && e.Enabled0 && e.Enabled1 {
					ct.Exits[i].Version = replaced.Version + 1
					return true
				}
			}
			return false
		}, rule.ExitPath, "between transitions"},
		{"at the goal, the initial version", func(ct *wire.CaseTrace) bool {
			// After the enable's action returned: before, the states
			// may still be being set, and no record there is judged.
			en := op(ct, wire.OpEnable, 0)
			for i, e := range ct.Exits {
				if e.Open == 1 && e.State == wire.StatePatched && e.Version == replaced.Version && e.T0 > en.T1 {
					ct.Exits[i].Version = wire.VersionOld
					return true
				}
			}
			return false
		}, rule.ExitPath, "not the goal's"},
		{"no call in a transition", func(ct *wire.CaseTrace) bool {
			for i := range ct.Exits {
				ct.Exits[i].Open = 0
			}
			return true
		}, rule.Coverage, "inside a transition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, "exits-debian-7.2.json.gz")
			ct := caseIn(tr, "exits")
			if !tc.edit(ct) {
				t.Fatal("the recorded trace has no record to edit")
			}
			var hit bool
			for _, v := range Case(tr, ct, c) {
				if v.Rule == tc.want && strings.Contains(v.Msg, tc.msg) {
					hit = true
				}
			}
			if !hit {
				t.Errorf("no %s violation saying %q: %v", tc.want, tc.msg, Case(tr, ct, c))
			}
		})
	}
}

// exits-unload on debian:7.2 (x86_64: an int3 in the replaced patch's
// freed text) and on src:debian:7.2 (arm64: an instruction abort there,
// with no time stamps on the console), recorded: the VM died; the
// console's crash, folded into the kernel log as the runner does, is named
// as the case's finding, and the kernel-log rule reports it too.
func TestRecordedExitsUnload(t *testing.T) {
	c := exitsCase(t, "exits-unload")
	if c.Known == "" || !c.OwnBoot {
		t.Fatalf("exits-unload: Known %q OwnBoot %v; want a known finding in a boot of its own", c.Known, c.OwnBoot)
	}
	for _, run := range []string{"exits-unload-debian-7.2", "exits-unload-arm64-7.2"} {
		console, err := os.ReadFile(filepath.Join("testdata", run+".console.txt"))
		if err != nil {
			t.Fatal(err)
		}
		tr := load(t, run+".json.gz")
		ct := caseIn(tr, "exits-unload")
		if ct.End != nil {
			t.Fatalf("%s: the recorded case has an end; it was cut short by the crash", run)
		}
		got := rules(Case(WithConsole(tr, ct.Name, string(console)), ct, c))
		if got[rule.ExitPath] != 1 || got[rule.KernelLog] == 0 || got[rule.Coverage] != 0 {
			t.Errorf("%s: rules %v; want the finding once (exit-path), the kernel-log rule, and no could-not-test", run, got)
		}
		// Without the console the case cannot say what killed the VM.
		if got := rules(Case(tr, ct, c)); got[rule.ExitPath] != 0 || got[rule.Coverage] != 1 {
			t.Errorf("%s: without the console: rules %v; want could-not-test and no finding", run, got)
		}
	}
}

// exits-unload, judged on a trace in which no thread was in the replaced
// patch's code when its module went (the exits case's, which waits 3 s
// before it removes it), says it could not test; with no thread that
// outlived its patch at all, it says that.
func TestExitsUnloadCoverage(t *testing.T) {
	c := exitsCase(t, "exits-unload")
	for _, tc := range []struct {
		name string
		edit func(ct *wire.CaseTrace)
		msg  string
	}{
		{"module removed after the threads left", func(ct *wire.CaseTrace) {}, "when its module's removal began"},
		{"no thread outlived its patch", func(ct *wire.CaseTrace) {
			for i := range ct.Exits {
				ct.Exits[i].Enabled1 = ct.Exits[i].Enabled0
			}
		}, "took that patch away"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := load(t, "exits-debian-7.2.json.gz")
			ct := caseIn(tr, "exits")
			tc.edit(ct)
			vs := Case(tr, ct, c)
			if len(vs) != 1 || vs[0].Rule != rule.Coverage || !strings.Contains(vs[0].Msg, tc.msg) {
				t.Errorf("got %v; want one could-not-test saying %q", vs, tc.msg)
			}
		})
	}
}
