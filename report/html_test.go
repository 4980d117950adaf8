package report

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/internal/gzfile"
	"github.com/klptest/klptest/runner"
	"github.com/klptest/klptest/wire"
)

// recordedRun decodes a run document recorded from a real run.
func recordedRun(t *testing.T, path string) *runner.Result {
	t.Helper()
	b, err := gzfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := document.DecodeRun(b)
	if err != nil {
		t.Fatal(err)
	}
	return d.Result
}

// The report's data follows the trace: every task of every snapshot has a
// row in its group, segments change state, and the page is self-contained.
func TestHTMLReport(t *testing.T) {
	res := recordedRun(t, "../document/testdata/run-v1-debian-6.1.json.gz")
	cell := Cell{Name: "debian-6.1-x86_64", Result: res}
	r := BuildHTMLReport("t", []Cell{cell})
	if len(r.Cases) != 1 || r.Cases[0].Name != "patch" || r.Cases[0].Verdict != "PASS" {
		t.Fatalf("cases: %+v", r.Cases)
	}
	hc := r.Cases[0]
	ct := res.Boots[0].Trace.Cases[0]
	keys := map[string]bool{}
	for _, s := range ct.Snapshots {
		for _, task := range s.Tasks {
			keys[task.Key()] = true
		}
	}
	rows, segs := 0, 0
	for gi, g := range hc.Groups {
		for _, task := range g.Tasks {
			rows++
			segs += len(task.Segs) / 2
			if len(task.Segs) == 0 || len(task.Segs)%2 != 0 {
				t.Fatalf("%s: segs %v", task.Name, task.Segs)
			}
			for i := 2; i < len(task.Segs); i += 2 {
				if task.Segs[i] < task.Segs[i-2] || task.Segs[i+1] == task.Segs[i-1] {
					t.Errorf("%s: segment %d does not advance or change state: %v", task.Name, i/2, task.Segs)
				}
			}
			if task.End < task.Segs[len(task.Segs)-2] {
				t.Errorf("%s ends before its last segment", task.Name)
			}
			if gi == 2 && !strings.Contains(task.Name, "idle") {
				t.Errorf("%s in the idle group", task.Name)
			}
		}
	}
	if rows != len(keys) || segs != hc.Segments {
		t.Errorf("%d rows for %d tasks, %d segments counted as %d", rows, len(keys), segs, hc.Segments)
	}
	var kinds []string
	for _, m := range hc.Marks {
		kinds = append(kinds, m.Kind)
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "enable complete disable complete") {
		t.Errorf("marks %q lack the patch case's transitions", got)
	}

	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: nothing to fetch.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=|https?://|@import|url\(`).Find(page); m != nil {
		t.Errorf("the page references something outside it: %q", m)
	}
	// The data round-trips out of its script element.
	m := regexp.MustCompile(`(?s)<script type="application/json" id="klptest-data">(.*?)</script>`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no data element")
	}
	var back HTMLReport
	if err := json.Unmarshal(m[1], &back); err != nil || back.Cases[0].Segments != hc.Segments {
		t.Errorf("data does not round-trip: %v", err)
	}
}

// Names from the guest are data, never markup.
func TestHTMLEscapes(t *testing.T) {
	page, err := HTML(HTMLReport{Title: "</script><script>alert(1)</script>", Cases: []HTMLCase{}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "<script>alert(1)") {
		t.Error("a title closed the data's script element")
	}
}

// An inject op's mark names its fault, in Fault as today's agent writes
// it, and in Patch as agents wrote it before.
func TestHTMLInjectMark(t *testing.T) {
	for _, op := range []wire.Op{
		{Kind: wire.OpInject, T0: 2, T1: 3, Fault: cases.FaultWarn},
		{Kind: wire.OpInject, T0: 2, T1: 3, Patch: "warn"},
	} {
		ct := &wire.CaseTrace{Name: "demo-warn", Ops: []wire.Op{op}}
		hc := buildCase(&wire.Trace{Cases: []*wire.CaseTrace{ct}}, ct, runner.Verdict{Case: "demo-warn", Pass: true})
		if len(hc.Marks) != 1 || hc.Marks[0].Label != "inject (warn)" {
			t.Errorf("%+v: marks %+v, want one labelled %q", op, hc.Marks, "inject (warn)")
		}
	}
}
