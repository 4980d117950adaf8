package report

import (
	"strings"
	"testing"

	"github.com/klptest/klptest/rule"
)

// A violation whose evidence has fields of its own (the excerpt, its
// decoded frames, the repeat count, the reason a case was cut short)
// renders in every format exactly as the same violation of a document
// written when all of it was in the message.
func TestEvidenceRendersAsItsMessage(t *testing.T) {
	old := []rule.Violation{
		{Rule: rule.KernelLog, Msg: "WARNING in the kernel log at [6.000000]:\n    WARNING: CPU: 1 PID: 45 at klp_complete_transition+0x1d4/0x250\n     <TASK> (and 1 more times)\ndecoded (scripts/decode_stacktrace.sh):\n    WARNING: CPU: 1 PID: 45 at klp_complete_transition (kernel/livepatch/transition.c:106)\n     <TASK>"},
		{Rule: rule.Pending, Task: "uinit[77]", T: 1614961000, Msg: "at 0 (unpatched), not the goal 1 (patched), without TIF_PATCH_PENDING over 14 consecutive snapshots (467 ms) (and 87 more times)"},
		{Rule: rule.Trace, Msg: "the VM ended during the case: QEMU guest-panicked (exit status 0)"},
	}
	structured := []rule.Violation{
		{Rule: rule.KernelLog, Msg: "WARNING in the kernel log at [6.000000]", More: 1,
			Excerpt: []string{"WARNING: CPU: 1 PID: 45 at klp_complete_transition+0x1d4/0x250", " <TASK>"},
			Decoded: []string{"WARNING: CPU: 1 PID: 45 at klp_complete_transition (kernel/livepatch/transition.c:106)", " <TASK>"}},
		{Rule: rule.Pending, Task: "uinit[77]", T: 1614961000, Msg: "at 0 (unpatched), not the goal 1 (patched), without TIF_PATCH_PENDING over 14 consecutive snapshots (467 ms)", More: 87},
		{Rule: rule.Trace, Msg: "the VM ended during the case", CutShort: "QEMU guest-panicked (exit status 0)"},
	}
	render := func(vs []rule.Violation) (ktap, junit, html string) {
		r := recordedRun(t, "testdata/run-demo-stall-debian-6.1.json.gz")
		if v := &r.Verdicts[0]; v.Case != "demo-stall" || v.Pass {
			t.Fatalf("the recording's first verdict is not a failed demo-stall: %+v", v)
		} else {
			for i := range vs {
				vs[i].Case = v.Case
			}
			v.Violations = vs
		}
		cells := []Cell{{Name: "debian-6.1", Result: r}}
		j, err := JUnit(cells)
		if err != nil {
			t.Fatal(err)
		}
		h, err := HTML(BuildHTMLReport("klptest", cells))
		if err != nil {
			t.Fatal(err)
		}
		return KTAP(cells), string(j), string(h)
	}
	oldKTAP, oldJUnit, oldHTML := render(old)
	newKTAP, newJUnit, newHTML := render(structured)
	if newKTAP != oldKTAP {
		t.Errorf("KTAP differs:\n--- fields\n%s\n--- message\n%s", newKTAP, oldKTAP)
	}
	if newJUnit != oldJUnit {
		t.Errorf("JUnit differs:\n--- fields\n%s\n--- message\n%s", newJUnit, oldJUnit)
	}
	if newHTML != oldHTML {
		t.Errorf("the HTML report differs")
	}
	for _, want := range []string{
		"    # [kernel-log]: WARNING in the kernel log at [6.000000]:\n    #     WARNING: CPU: 1 PID: 45 at klp_complete_transition+0x1d4/0x250\n    #      <TASK> (and 1 more times)\n    # decoded (scripts/decode_stacktrace.sh):\n",
		"    # [trace]: the VM ended during the case: QEMU guest-panicked (exit status 0)\n",
	} {
		if !strings.Contains(newKTAP, want) {
			t.Errorf("KTAP lacks %q:\n%s", want, newKTAP)
		}
	}
	if !strings.Contains(newHTML, "kernel/livepatch/transition.c:106") {
		t.Errorf("the HTML report lacks the decoded frames")
	}
}
