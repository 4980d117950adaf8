package report

import (
	"strings"
	"testing"
)

// The forensics of a real stall (demo-stall on debian:6.1, recorded): the
// sysrq-t dump is cut out of the kernel log by its sequence numbers, the
// parked task's part of it is found by pid, and the text a person reads is
// a golden file.
func TestForensicsRecorded(t *testing.T) {
	res := recordedRun(t, "testdata/run-demo-stall-debian-6.1.json.gz")
	tr := res.Boots[0].Trace
	ct := tr.Cases[0]
	if len(ct.Forensics) != 1 {
		t.Fatalf("%d forensics records", len(ct.Forensics))
	}
	f := ct.Forensics[0]
	dump := SysrqDump(tr, f)
	if len(dump) < 100 || !strings.Contains(dump[0], "Show State") {
		t.Fatalf("dump: %d lines, first %q", len(dump), dump[0])
	}
	for _, l := range tr.Kmsg {
		if l.Seq == f.SysrqEnd && strings.TrimRight(l.Msg, " ") != dump[len(dump)-1] {
			t.Errorf("the dump ends with %q, not with its last record %q", dump[len(dump)-1], l.Msg)
		}
	}
	pid := f.Blocking[0].Task.PID
	seg := SysrqTask(dump, pid)
	if len(seg) < 4 || !strings.Contains(seg[0], "task:klpt-parker") || !strings.Contains(strings.Join(seg, "\n"), "klpt_park_func") {
		t.Errorf("the parked task's part of the dump: %q", seg)
	}
	if got := SysrqTask(dump, 999999); got != nil {
		t.Errorf("a pid not in the dump matched: %q", got)
	}
	golden(t, "testdata/forensics.golden", ForensicsText(tr, f, "    "))
}
