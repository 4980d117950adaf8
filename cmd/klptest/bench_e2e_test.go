//go:build e2e

// klptest bench as a user runs it, a built binary timing itself. Kernels:
// debian:6.1 amd64, and src:debian:7.2 built for arm64 (as in
// TestE2ESourceKernel, whose build it shares through the cache).
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klptest/klptest/bench"
	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/wire"
)

// The benchmark's figures are not asserted (speed is measured, never
// tested); what is: every measurement was taken, and each split adds up.
func TestE2EBench(t *testing.T) {
	requireQEMU(t)
	bin := buildKlptest(t)
	// arm64's kernel is the one TestE2ESourceKernel builds: the planted
	// repository's base commit (one cold build in the e2e tier, not two).
	cache, err := kernels.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	repo, base, _ := plantedRepo(t, cache)
	git := func(args ...string) {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("checkout", "-q", "--detach", base)
	defer git("checkout", "-q", "main")
	for _, tc := range []struct {
		kernel, arch, tasks string
	}{
		{"debian:6.1", "x86_64", "100,1000"},
		{"src:" + repo, "arm64", "100"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			doc := filepath.Join(t.TempDir(), "bench.json")
			cmd := exec.Command(bin, "bench", "--kernel", tc.kernel, "--arch", tc.arch, "--runs", "2",
				"--case", "patch", "--case", "reverse-patch", "--snapshot-tasks", tc.tasks, "--json", doc,
				// The selftests' timing takes minutes a run; its table is
				// tested on a recorded document (bench/testdata).
				"--kselftest=false")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			if err != nil {
				t.Fatalf("klptest bench: %v", err)
			}
			for _, want := range []string{"bare boot: QEMU start", "agent ready: QEMU start", "overhead: wall /", "  patch  ", "  reverse-patch  ", "warm loop: klptest run --case patch", "snapshot of every task", "probe, "} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("the table lacks %q", want)
				}
			}
			b, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			var r bench.Report
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if r.Schema != document.BenchSchema || len(r.Bare) != 2 || len(r.Suite) != 2 || len(r.Warm) != 2 || len(r.Errors) != 0 {
				t.Fatalf("report: schema %q, %d bare, %d suite, %d warm samples, errors %q; want 2 of each, none",
					r.Schema, len(r.Bare), len(r.Suite), len(r.Warm), r.Errors)
			}
			for i, d := range r.Bare {
				if d <= 0 || d > 2*time.Minute {
					t.Errorf("bare boot %d: %v", i, d)
				}
			}
			for i, s := range r.Suite {
				if len(s.Cases) != 2 || s.Boots != 1 || len(s.Ready) != 1 {
					t.Fatalf("suite run %d: %d cases in %d boots, %d ready times", i, len(s.Cases), s.Boots, len(s.Ready))
				}
				var vm time.Duration
				for _, d := range s.VM {
					vm += d
				}
				if !(s.Ready[0] > 0 && s.Ready[0] < vm && vm < s.Wall) {
					t.Errorf("suite run %d: ready %v, VM %v, wall %v: want 0 < ready < VM < wall", i, s.Ready[0], vm, s.Wall)
				}
				var guest time.Duration
				for _, c := range s.Cases {
					// Each case waits on at least its two transitions.
					if !(c.Kernel > 0 && c.Kernel < c.Guest && c.Guest <= c.Wall+50*time.Millisecond) {
						t.Errorf("suite run %d, %s: kernel %v, guest %v, wall %v: want 0 < kernel < guest <= wall", i, c.Case, c.Kernel, c.Guest, c.Wall)
					}
					guest += c.Guest
				}
				if guest >= vm {
					t.Errorf("suite run %d: the cases' %v do not fit in the VM's %v", i, guest, vm)
				}
			}
			want := map[string]bool{}
			for _, n := range strings.Split(tc.tasks, ",") {
				for _, src := range []string{wire.SourceProbe, wire.SourceProc} {
					want[src+"/"+n] = true
				}
			}
			for _, s := range r.Snapshots {
				if s.Err != "" || s.Stat.N < 3 || s.Stat.Median <= 0 {
					t.Errorf("snapshot cost %s at %d tasks: %+v", s.Source, s.Tasks, s)
				}
				// Tasks counts what the first snapshot held: what the
				// bench added, and the guest's own.
				for k := range want {
					src, n, _ := strings.Cut(k, "/")
					if src == s.Source && s.Tasks >= atoi(n) && s.Tasks < atoi(n)+200 {
						delete(want, k)
					}
				}
			}
			if len(want) > 0 {
				t.Errorf("no snapshot cost for %v in %+v", want, r.Snapshots)
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
