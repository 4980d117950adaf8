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

// The tables of recorded klptest bench runs: debian:6.1, 2 runs of patch
// and reverse-patch, snapshots at 100, 1000 and 10000 tasks; debian:7.2,
// one run of the whole suite and of the kernel's own selftests.
func TestWriteTableGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string // what a reader needs, beyond the exact text
	}{
		{"bench-debian-6.1", []string{"ratio 1.07 (goal <= 1.15), met", "ratio 1.41 (goal <= 1.20), NOT met", "(goal <= 10.00 s), NOT met", "probe, 10004 tasks", "10.3 Hz (goal >= 10 Hz), met"}},
		{"bench-debian-6.12-boot", []string{"    u-root init to the agent's start  ", "    agent's start to hello: mounts, drivers, result port  ", "before the guest's clock", "kernel to /init, the initramfs unpacked"}},
		{"bench-debian-7.2-kselftest", []string{"kernel selftests: 8 scripts in 1 boot", "157.93 s  0.93 of klptest's suite", "  kselftest:test-callbacks.sh  ", "suite: 11 cases in 3 boots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tc.name + ".json")
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
			path := "testdata/" + tc.name + ".golden.txt"
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
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("table lacks %q", w)
				}
			}
		})
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
