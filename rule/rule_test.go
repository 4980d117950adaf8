package rule

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The text every report shows, from the fields: as klptest wrote it when
// the evidence was part of the message.
func TestString(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    Violation
		want string
	}{
		{"bare", Violation{Rule: Taint, Msg: "the kernel became tainted W (bit 9) during the case"},
			"[taint]: the kernel became tainted W (bit 9) during the case"},
		{"task and moment", Violation{Rule: Outside, Task: "kthreadd[2]", T: 10_727_828_000, Msg: "TIF_PATCH_PENDING set between transitions"},
			"[outside-transition] kthreadd[2] at 10.727828s: TIF_PATCH_PENDING set between transitions"},
		{"seen again", Violation{Rule: Consistent, Task: "worker[7]", Msg: "original (v1)", More: 3},
			"[consistency] worker[7]: original (v1) (and 3 more times)"},
		{"cut short", Violation{Rule: Trace, Msg: "the case did not finish", CutShort: "no case-end event"},
			"[trace]: the case did not finish: no case-end event"},
		{"excerpt", Violation{Rule: KernelLog, Msg: "WARNING in the kernel log at [6.000000]", Excerpt: []string{"WARNING: CPU: 1 PID: 45 at f", "Call Trace:", " <TASK>"}},
			"[kernel-log]: WARNING in the kernel log at [6.000000]:\n    WARNING: CPU: 1 PID: 45 at f\n    Call Trace:\n     <TASK>"},
		{"excerpt seen again, decoded", Violation{Rule: KernelLog, Msg: "WARNING in the kernel log at [6.000000]", Excerpt: []string{"WARNING: at f+0x1/0x2", "Call Trace:"}, More: 1,
			Decoded: []string{"WARNING: at f (kernel/f.c:12)", "Call Trace:"}},
			"[kernel-log]: WARNING in the kernel log at [6.000000]:\n    WARNING: at f+0x1/0x2\n    Call Trace: (and 1 more times)\ndecoded (scripts/decode_stacktrace.sh):\n    WARNING: at f (kernel/f.c:12)\n    Call Trace:"},
	} {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// A Violation is no error: no error chain can carry it, so none can lose
// it by wrapping and turn a failure into a pass.
func TestViolationIsNoError(t *testing.T) {
	if reflect.TypeFor[Violation]().Implements(reflect.TypeFor[error]()) {
		t.Error("rule.Violation implements error: violations could travel in errors again, and be lost by a wrap")
	}
}

// The run document's names stay those of the documents written before the
// evidence had fields of its own; an old document's violation, its
// evidence in msg, reads back to the same text.
func TestJSON(t *testing.T) {
	v := Violation{Case: "demo-warn", Rule: KernelLog, Task: "t", T: 5, Msg: "m", CutShort: "c", Excerpt: []string{"e"}, Decoded: []string{"d"}, More: 2}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"case":"demo-warn","rule":"kernel-log","task":"t","t_ns":5,"msg":"m","cut_short":"c","excerpt":["e"],"decoded":["d"],"more":2}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(Violation{Case: "patch", Rule: Taint, Msg: "m"})
	if want := `{"case":"patch","rule":"taint","msg":"m"}`; string(b) != want {
		t.Errorf("JSON without evidence\n got %s\nwant %s", b, want)
	}
	var old Violation
	doc := `{"case":"demo-warn","rule":"kernel-log","t_ns":0,"msg":"WARNING in the kernel log at [6.000000]:\n    WARNING: at f\n    Call Trace:"}`
	if err := json.Unmarshal([]byte(doc), &old); err != nil {
		t.Fatal(err)
	}
	if got, want := old.String(), "[kernel-log]: WARNING in the kernel log at [6.000000]:\n    WARNING: at f\n    Call Trace:"; got != want {
		t.Errorf("an old document's violation:\n got %q\nwant %q", got, want)
	}
}
