package report

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func cellsFixture(t *testing.T) []Cell {
	t.Helper()
	b, err := os.ReadFile("testdata/cells.json")
	if err != nil {
		t.Fatal(err)
	}
	var cs []Cell
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestJUnit(t *testing.T) {
	b, err := JUnit(cellsFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// What a reader needs from it, beyond the golden file's exact text.
	for _, want := range []string{
		`<testsuite name="src-7.2-arm64" tests="2" failures="1"`,
		`<property name="qemu" value="7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)">`,
		`<failure message="[pending-flag] uinit[77] at 1.614961s: at 0 (unpatched)`,
		`starting patching transition`, // the log around the failure
		`<skipped>kernel: kernel debian:7.2`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("JUnit lacks %q", want)
		}
	}
	if strings.Contains(s, "starting unpatching transition") {
		t.Errorf("JUnit excerpt holds another case's log")
	}
	golden(t, "testdata/junit.golden.xml", s)
}

func TestKTAP(t *testing.T) {
	s := KTAP(cellsFixture(t))
	for _, want := range []string{
		"KTAP version 1\n1..2\n",
		"    # Subtest: src-7.2-arm64\n",
		"    # kernel.release: 7.2.13\n",
		"    not ok 1 patch\n",
		"    ok 2 reverse-patch\n",
		"not ok 1 src-7.2-arm64\n",
		"ok 2 debian-7.2-x86_64 # SKIP kernel: kernel debian:7.2",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("KTAP lacks %q", want)
		}
	}
	golden(t, "testdata/ktap.golden", s)
}

// A kernel's warnings label its result once each, so KTAP and JUnit carry
// them beside the kernel's name.
func TestKernelWarningLabels(t *testing.T) {
	cs := cellsFixture(t)
	c := cs[0]
	if c.Result == nil || c.Result.Kernel == nil {
		t.Fatal("fixture's first cell has no kernel")
	}
	k := *c.Result.Kernel
	k.Warnings = []string{"first trap", "second trap"}
	r := *c.Result
	r.Kernel = &k
	c.Result = &r
	var got []string
	for _, l := range c.Labels() {
		if l[0] == LabelKernelWarning {
			got = append(got, l[1])
		}
	}
	if strings.Join(got, "|") != "first trap|second trap" {
		t.Errorf("warning labels %q", got)
	}
	ktap := KTAP([]Cell{c})
	for _, w := range []string{"    # kernel.warning: first trap\n", "    # kernel.warning: second trap\n"} {
		if !strings.Contains(ktap, w) {
			t.Errorf("KTAP lacks %q", w)
		}
	}
	for _, l := range cs[0].Labels() {
		if l[0] == LabelKernelWarning {
			t.Errorf("the fixture's own kernel has a warning label: %q", l[1])
		}
	}
}
