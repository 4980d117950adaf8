package report

import (
	"strings"
	"testing"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// A real `klptest run --suite kselftest --kernel debian:7.2` (every script
// passed), then the same with one script failing and one skipping, as the
// kernel's scripts report those: each script a case, its tests subtests.
func TestKTAPKselftest(t *testing.T) {
	r := recordedRun(t, "testdata/run-kselftest-debian-7.2.json.gz")
	cell := Cell{Name: "debian-7.2-x86_64", Result: r}
	s := KTAP([]Cell{cell})
	for _, want := range []string{
		"    1..8\n",
		"        # Subtest: kselftest:test-livepatch.sh\n        1..5\n        ok 1 basic_function_patching\n",
		"        ok 11 atomic_replace\n    ok 2 kselftest:test-callbacks.sh\n",
		"    ok 8 kselftest:test-kprobe.sh\nok 1 debian-7.2-x86_64\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("KTAP lacks %q", want)
		}
	}
	if n := strings.Count(s, "        ok "); n != 32 {
		t.Errorf("%d selftests ok, want the run's 32", n)
	}
	golden(t, "testdata/ktap-kselftest.golden", s)

	// test-sysfs.sh fails its second test; test-kprobe.sh skips.
	for _, b := range r.Boots {
		for _, ct := range b.Trace.Cases {
			switch ct.Name {
			case "kselftest:test-sysfs.sh":
				ct.Kselftest.Exit = 1
				ct.Kselftest.Output = "TEST: sysfs test ... ok\nTEST: sysfs test object/patched ... not ok\n\n--- expected\n+++ result\n\nERROR: livepatch kselftest(s) failed\n"
			case "kselftest:test-kprobe.sh":
				ct.Kselftest.Exit = wire.KselftestSkip
				ct.Kselftest.Output = "SKIP: kprobes not enabled\n"
			}
		}
	}
	for i, v := range r.Verdicts {
		switch v.Case {
		case "kselftest:test-sysfs.sh":
			r.Verdicts[i].Pass = false
			r.Verdicts[i].Violations = []rule.Violation{{Case: v.Case, Rule: rule.Kselftest, Msg: "test-sysfs.sh exited 1"}}
		case "kselftest:test-kprobe.sh":
			r.Verdicts[i].Skip = "SKIP: kprobes not enabled"
		}
	}
	s = KTAP([]Cell{cell})
	for _, want := range []string{
		"        ok 1 sysfs_test\n        not ok 2 sysfs_test_object/patched\n",
		"    # [kselftest]: test-sysfs.sh exited 1\n    not ok 6 kselftest:test-sysfs.sh\n",
		"    ok 8 kselftest:test-kprobe.sh # SKIP SKIP: kprobes not enabled\n",
		"not ok 1 debian-7.2-x86_64\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("KTAP lacks %q", want)
		}
	}
	j, err := JUnit([]Cell{cell})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<testsuite name="debian-7.2-x86_64" tests="8" failures="1" errors="0" skipped="1"`,
		`<testcase name="kselftest:test-kprobe.sh" classname="klptest.debian-7.2-x86_64" time="0">` + "\n      <skipped>SKIP: kprobes not enabled</skipped>",
		`<failure message="[kselftest]: test-sysfs.sh exited 1" type="violation">`,
	} {
		if !strings.Contains(string(j), want) {
			t.Errorf("JUnit lacks %q", want)
		}
	}
}
