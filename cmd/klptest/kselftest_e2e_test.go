//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The kernel's own livepatch selftests, from linux-source-7.2, run on
// Debian's 7.2 kernel (its config has what they ask), one case per script,
// with their results in klptest's JSON, JUnit and KTAP. Kernel: debian:7.2
// amd64 (sid), modules through its gcc-16 toolchain root.
func TestE2EKselftest(t *testing.T) {
	requireQEMU(t)
	dir := t.TempDir()
	doc, junit := filepath.Join(dir, "run.json"), filepath.Join(dir, "junit.xml")
	var stdout, stderr bytes.Buffer
	code := Main([]string{"run", "--suite", "kselftest", "--kernel", "debian:7.2", "--json", doc, "--junit", junit}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != exitPass {
		t.Fatalf("exit %d, want %d", code, exitPass)
	}
	// The scripts linux-source-7.2's Makefile lists (TEST_PROGS).
	scripts := []string{"test-livepatch.sh", "test-callbacks.sh", "test-shadow-vars.sh", "test-state.sh",
		"test-ftrace.sh", "test-sysfs.sh", "test-syscall.sh", "test-kprobe.sh"}
	for _, s := range scripts {
		if !strings.Contains(stdout.String(), "PASS kselftest:"+s+" (debian:7.2 7.2.") {
			t.Errorf("no PASS line for %s", s)
		}
	}
	// The trace rules judged the scripts' transitions from the probe's
	// readings: some of each script that patches (those that complete
	// between two snapshots, unseen open, are not), none of
	// test-shadow-vars.sh, which patches nothing and is judged as one
	// stable stretch. test-ftrace.sh turns ftrace off, which on x86 stops
	// the probe's counters: its readings then are blind, and only then.
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Result struct {
			Verdicts []struct {
				Case   string         `json:"case"`
				Counts map[string]int `json:"counts"`
			} `json:"verdicts"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	judged := map[string]bool{}
	for _, v := range d.Result.Verdicts {
		script := strings.TrimPrefix(v.Case, "kselftest:")
		judged[script] = true
		n, blind := v.Counts["transitions-judged"], v.Counts["readings-blind"]
		if (script == "test-shadow-vars.sh") != (n == 0) {
			t.Errorf("%s: %d transitions judged", script, n)
		}
		if (script == "test-ftrace.sh") != (blind > 0) {
			t.Errorf("%s: %d readings blind", script, blind)
		}
	}
	if len(judged) != len(scripts) {
		t.Errorf("verdicts for %v; want the %d scripts", judged, len(scripts))
	}
	j, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), `tests="8" failures="0" errors="0" skipped="0"`) || !strings.Contains(string(j), `<testcase name="kselftest:test-syscall.sh"`) {
		t.Errorf("JUnit lacks the 8 scripts:\n%s", j)
	}
	stdout.Reset()
	if code := Main([]string{"report", doc, "--ktap"}, &stdout, &stderr); code != exitPass {
		t.Fatalf("report --ktap: exit %d: %s", code, stderr.String())
	}
	ktap := stdout.String()
	// Each script's own tests are KTAP subtests, all ok.
	for _, want := range []string{"        # Subtest: kselftest:test-livepatch.sh\n", "        ok 1 basic_function_patching\n", "    ok 8 kselftest:test-kprobe.sh\n"} {
		if !strings.Contains(ktap, want) {
			t.Errorf("KTAP lacks %q", want)
		}
	}
	if n, bad := strings.Count(ktap, "\n        ok "), strings.Count(ktap, "not ok"); n < 30 || bad != 0 {
		t.Errorf("KTAP: %d selftests ok, %d not ok; want the 30 and more of 7.2's scripts, all ok:\n%s", n, bad, ktap)
	}
}
