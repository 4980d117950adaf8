package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The table of a recorded klptest bench run (debian:6.1, 2 runs of patch
// and reverse-patch, snapshots at 100, 1000 and 10000 tasks).
func TestWriteTableGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/bench-debian-6.1.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	const path = "testdata/bench-debian-6.1.golden.txt"
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("table differs from %s (go test -update rewrites it):\n%s", path, out.String())
	}
	// What a reader needs, beyond the exact text: each goal's verdict.
	for _, w := range []string{"ratio 1.07 (goal <= 1.15), met", "ratio 1.41 (goal <= 1.20), NOT met", "(goal <= 10.00 s), NOT met", "probe, 10004 tasks", "10.3 Hz (goal >= 10 Hz), met"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("table lacks %q", w)
		}
	}
}

// A report missing its figures says so, and claims no goal met.
func TestWriteTableMissing(t *testing.T) {
	r := &Report{Kernel: "debian:6.12", Errors: []string{"bare boot: no QEMU"}}
	var out bytes.Buffer
	r.WriteTable(&out)
	if strings.Contains(out.String(), "met") {
		t.Errorf("a goal judged without figures:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "not measured: bare boot: no QEMU") {
		t.Errorf("the error is not shown:\n%s", out.String())
	}
}
