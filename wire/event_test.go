package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	lines := []string{
		`{"v":1,"type":"hello","hello":{"release":"6.12.117+deb12-amd64","machine":"x86_64","cpus":2,"taint":0,"cases":["patch"]}}`,
		`{"v":1,"type":"kmsg","kmsg":[{"seq":1,"ts_us":10,"prio":6,"msg":"boot"}]}`,
		`{"v":1,"type":"case-start","case":"patch"}`,
		`{"v":1,"type":"op","case":"patch","op":{"kind":"enable","goal":1,"t0":100,"t1":0,"in_progress":true}}`,
		`{"v":1,"type":"op","case":"patch","op":{"kind":"enable","goal":1,"t0":100,"t1":200}}`,
		`{"v":1,"type":"snapshot","case":"patch","snapshot":{"source":"probe","t0":210,"t1":220,"tasks":[{"pid":1,"tgid":1,"comm":"init","state":1,"pending":false}]}}`,
		`{"v":1,"type":"calls","case":"patch","calls":[{"tid":5,"before":1,"version":2,"after":1,"n":3,"t0":230,"t1":260}]}`,
		`{"v":1,"type":"kmsg","case":"patch","kmsg":[{"seq":2,"ts_us":20,"prio":5,"msg":"livepatch: enabling patch 'klpt_patch'"}]}`,
		`{"v":1,"type":"case-end","case":"patch","case_end":{"t":300,"taint":36864}}`,
		`{"v":1,"type":"done"}`,
	}
	var tr Trace
	for _, l := range lines {
		ev, err := DecodeLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Apply(ev); err != nil {
			t.Fatalf("Apply(%s): %v", l, err)
		}
	}
	if !tr.Done || tr.Hello.CPUs != 2 || len(tr.Cases) != 1 {
		t.Fatalf("trace: %+v", tr)
	}
	c := tr.Cases[0]
	if len(c.Ops) != 1 || c.Ops[0].T1 != 200 || c.Ops[0].InProgress {
		t.Errorf("the final op must replace the in-progress one: %+v", c.Ops)
	}
	if len(c.Snapshots) != 1 || len(c.Calls) != 1 || c.End == nil || c.End.Taint != 36864 {
		t.Errorf("case: %+v", c)
	}
	if len(tr.Kmsg) != 2 || tr.Kmsg[0].Case != "" || tr.Kmsg[1].Case != "patch" {
		t.Errorf("kmsg lines must carry the case they were read in: %+v", tr.Kmsg)
	}
}

func TestApplyRejects(t *testing.T) {
	tests := []struct{ line, want string }{
		{`{"v":2,"type":"done"}`, "version 2"},
		{`{"v":1,"type":"snapshot","case":"patch","snapshot":{}}`, "outside that case"},
		{`{"v":1,"type":"bogus"}`, "unknown event"},
	}
	for _, tt := range tests {
		ev, err := DecodeLine([]byte(tt.line))
		if err == nil {
			var tr Trace
			err = tr.Apply(ev)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.line, err, tt.want)
		}
	}
	if _, err := DecodeLine([]byte(`{"v":1,"type":"sna`)); err == nil {
		t.Error("a truncated line must not decode")
	}
}

func TestTaskStateJSON(t *testing.T) {
	yes := true
	tests := []TaskState{
		{PID: 57, TGID: 55, Comm: "klpt worker", State: 1, Pending: &yes},
		{PID: 0, TGID: 0, Comm: "swapper/1", State: -1, Kthread: true, Idle: true, CPU: 1},
		{PID: 9, TGID: 9, Comm: "exe", State: 0}, // from /proc: pending unknown
	}
	for _, want := range tests {
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got TaskState
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got.Key() != want.Key() || got.Comm != want.Comm || got.State != want.State || got.Kthread != want.Kthread ||
			got.Idle != want.Idle || got.CPU != want.CPU || (got.Pending == nil) != (want.Pending == nil) ||
			(got.Pending != nil && *got.Pending != *want.Pending) {
			t.Errorf("%s decoded to %+v, want %+v", b, got, want)
		}
	}
	// The object form of earlier traces still decodes.
	var old TaskState
	if err := json.Unmarshal([]byte(`{"pid":3,"tgid":3,"comm":"x","state":1,"pending":true,"kthread":true}`), &old); err != nil || old.PID != 3 || !*old.Pending || !old.Kthread {
		t.Errorf("object form: %+v %v", old, err)
	}
	if err := json.Unmarshal([]byte(`[1,2,3]`), &old); err == nil {
		t.Error("a short array must not decode")
	}
}

// DropTimelines forgets the task-by-task records, and nothing else.
func TestDropTimelines(t *testing.T) {
	ct := &CaseTrace{
		Name:      "patch",
		Ops:       []Op{{Kind: OpEnable, T0: 1, T1: 2}},
		Snapshots: []Snapshot{{Source: SourceProbe, Tasks: []TaskState{{PID: 1}}}},
		Calls:     []CallGroup{{TID: 1, N: 3}},
		Forks:     []ForkEvent{{PPID: 1, CPID: 2}},
		Errors:    []string{"an error"},
		Start:     &CaseStart{T: 1},
		End:       &CaseEnd{T: 9},
	}
	tr := &Trace{Version: TraceVersion, Cases: []*CaseTrace{ct}}
	want := *ct
	want.Snapshots, want.Calls, want.Forks = nil, nil, nil
	tr.DropTimelines()
	if !reflect.DeepEqual(*tr.Cases[0], want) {
		t.Errorf("after DropTimelines: %+v, want %+v", *tr.Cases[0], want)
	}
}
