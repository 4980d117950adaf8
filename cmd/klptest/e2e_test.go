//go:build e2e

// End-to-end tests: real kernels (fetched into the cache, or built there),
// real modules, real QEMU. Kernels: debian:6.12 and debian:6.1 amd64
// (CONFIG_LIVEPATCH=y, gcc-12 as on Debian 12); src:debian:7.2 built for
// arm64 with gcc-aarch64-linux-gnu (Debian's arm64 kernels lack LIVEPATCH);
// and debian:6.12 arm64's config (no CONFIG_LIVEPATCH). Run with:
// go test -tags e2e ./cmd/klptest/
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/runner"
	"github.com/klptest/klptest/wire"
)

// requireQEMU fails rather than skips: whoever asked for the e2e tier must
// get it, or know why not.
func requireQEMU(t *testing.T, arch ...string) {
	t.Helper()
	qemu, pkg := "qemu-system-x86_64", "qemu-system-x86"
	if len(arch) > 0 && arch[0] == "arm64" {
		qemu, pkg = "qemu-system-aarch64", "qemu-system-arm"
	}
	if _, err := exec.LookPath(qemu); err != nil {
		t.Fatalf("%s not found: install Debian's %s (or run `make deps`)", qemu, pkg)
	}
}

// suiteKernels are the kernels the whole suite runs on, by arch: Debian's
// 6.12 (the default kernel) and 6.1; TestE2ESourceKernel covers arm64.
// Setting KLPTEST_E2E_KERNELS="arch=spec ..." replaces them (e.g.
// "x86_64=src:debian:7.2 arm64=src:debian:7.2" for Debian's 7.2 source
// built for both arches).
func suiteKernels() []struct{ arch, kernel string } {
	def := "x86_64=debian:6.12 x86_64=debian:6.1"
	if v := os.Getenv("KLPTEST_E2E_KERNELS"); v != "" {
		def = v
	}
	var ks []struct{ arch, kernel string }
	for _, f := range strings.Fields(def) {
		a, k, _ := strings.Cut(f, "=")
		ks = append(ks, struct{ arch, kernel string }{a, k})
	}
	return ks
}

// buildKlptest builds klptest for the tests that run it as a user does, a
// process of its own: its signals, its terminal, two at once.
func buildKlptest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "klptest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The whole suite on each kernel: every case passes, and the patch case's
// trace holds what the checker needs to judge. On x86_64 the suite goes in
// two halves, each a klptest run of its own, and the runs go at once, as
// many as the machine has cores (go test's -parallel): an x86_64 guest runs
// its vCPUs on one host thread (single-threaded TCG). Measured here (2
// cores): 6.12's whole suite alone 960 s, because each of its transitions
// takes 10-18 s under TCG (docs/benchmarks.md); 6.12's and 6.1's whole
// suites at once 969 s and 401 s; their four halves, two at a time, 888 s
// in all. An arm64 guest's vCPUs are threads of their own: its suite is
// one run, alone.
func TestE2ESuite(t *testing.T) {
	bin := buildKlptest(t)
	// The verdicts of failed cases, said again once every part is done:
	// a parallel part's own log comes out when it ends, far above the
	// end of a long run's output, where a reader (and CI's excerpt) looks.
	var mu sync.Mutex
	var failed []string
	t.Cleanup(func() {
		for _, f := range failed {
			t.Log(f)
		}
	})
	for _, k := range suiteKernels() {
		kernel, arch := k.kernel, k.arch
		parts := suiteParts(1)
		if arch == "x86_64" {
			parts = suiteParts(2)
		}
		for i, part := range parts {
			name := arch + "/" + kernel
			if len(parts) > 1 {
				name += fmt.Sprintf("/%d-of-%d", i+1, len(parts))
			}
			t.Run(name, func(t *testing.T) {
				requireQEMU(t, arch)
				if arch == "x86_64" {
					t.Parallel()
				}
				testSuitePart(t, bin, kernel, arch, part, func(f string) {
					mu.Lock()
					failed = append(failed, name+":\n"+f)
					mu.Unlock()
				})
			})
		}
	}
}

// suiteSkips are the cases a suite kernel must skip: 6.1 has no
// scheduler switch point (__klp_sched_try_switch() came in 6.4).
var suiteSkips = map[string]map[string]bool{"debian:6.1": {"sched-switch": true}}

// suiteParts splits the suite's cases in n parts, dealt out by name (in
// two on 6.12: 394 s and 483 s of cases).
func suiteParts(n int) [][]string {
	parts := make([][]string, n)
	for i, c := range cases.All() {
		parts[i%n] = append(parts[i%n], c.Name)
	}
	return parts
}

// testSuitePart runs the named cases on the kernel in one klptest run:
// each must pass, and where the patch case is among them, its trace must
// hold what the checker needs to judge. It gives report the verdicts of
// the cases that failed, if any, before it fails.
func testSuitePart(t *testing.T, bin, kernel, arch string, names []string, report func(string)) {
	out := filepath.Join(t.TempDir(), "run.json")
	args := []string{"run", "--kernel", kernel, "--arch", arch, "--json", out}
	for _, c := range names {
		args = append(args, "--case", c)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if f := verdictBlocks(stdout.String(), "FAIL "); f != "" {
		report(f)
	} else if err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		report(fmt.Sprintf("klptest: %v; the end of its stderr:\n%s", err, strings.Join(lines[max(0, len(lines)-10):], "\n")))
	}
	if err != nil {
		t.Fatalf("klptest %v: %v", args, err)
	}
	for _, c := range names {
		want := "PASS "
		if suiteSkips[kernel][c] {
			want = "SKIP "
		}
		if !strings.Contains(stdout.String(), want+c+" ("+kernel) {
			t.Errorf("no %sline for case %s", want, c)
		}
	}
	if !slices.Contains(names, "patch") {
		return
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version int `json:"version"`
		Result  struct {
			Boots []struct {
				Trace wire.Trace `json:"trace"`
			} `json:"boots"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var tr wire.Trace
	var ct *wire.CaseTrace
	for _, b := range doc.Result.Boots {
		for _, c := range b.Trace.Cases {
			if c.Name == "patch" {
				tr, ct = b.Trace, c
			}
		}
	}
	if doc.Version != wire.TraceVersion || ct == nil || !tr.Done {
		t.Fatalf("document: version %d, patch case found %v, done %v", doc.Version, ct != nil, tr.Done)
	}
	// The trace holds every task, idle tasks included, and saw the
	// transitions happen.
	var probes, midTransition, idle int
	for _, s := range ct.Snapshots {
		if s.Source != wire.SourceProbe {
			continue
		}
		probes++
		n, moving := 0, false
		for _, task := range s.Tasks {
			if task.Idle {
				n++
			}
			if task.State != wire.StateUndefined {
				moving = true
			}
		}
		if n > idle {
			idle = n
		}
		if moving {
			midTransition++
		}
	}
	if idle != tr.Hello.CPUs || probes < 10 || midTransition == 0 {
		t.Errorf("snapshots: %d probe, %d mid-transition, %d idle tasks for %d CPUs", probes, midTransition, idle, tr.Hello.CPUs)
	}
	var oldCalls, newCalls int
	for _, g := range ct.Calls {
		if g.Version == wire.VersionNew {
			newCalls += g.N
		} else {
			oldCalls += g.N
		}
	}
	if oldCalls == 0 || newCalls == 0 {
		t.Errorf("workers saw %d old and %d new calls; want both", oldCalls, newCalls)
	}
	t.Logf("%s: %d probe snapshots of %d tasks, %d/%d old/new calls", kernel, probes, len(ct.Snapshots[0].Tasks), oldCalls, newCalls)
}

// A kernel without CONFIG_LIVEPATCH: one clear line, exit 125, before any
// large download or boot.
func TestE2ENoLivepatch(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main([]string{"run", "--kernel", "debian:6.12", "--arch", "arm64"}, &stdout, &stderr)
	if code != exitInfra {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInfra, stderr.String())
	}
	var errLines []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "klptest: cannot test:") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "lacks CONFIG_LIVEPATCH=y") {
		t.Errorf("want one line naming CONFIG_LIVEPATCH; stderr:\n%s", stderr.String())
	}
}

// The kernel-level rules fire on a kernel that breaks the consistency model:
// the demo cases inject the fault through the probe module, and each must
// FAIL with its rule.
func TestE2EDemosFail(t *testing.T) {
	requireQEMU(t)
	args := []string{"run", "--kernel", "debian:6.1"}
	for _, c := range cases.Demos() {
		args = append(args, "--case", c.Name)
	}
	var stdout, stderr bytes.Buffer
	code := Main(args, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	for _, c := range cases.Demos() {
		head := "FAIL " + c.Name + " ("
		i := strings.Index(stdout.String(), head)
		if i < 0 {
			t.Errorf("%s did not fail", c.Name)
			continue
		}
		rest := stdout.String()[i+len(head):]
		if j := strings.Index(rest, "\nPASS "); j >= 0 {
			rest = rest[:j]
		}
		if j := strings.Index(rest, "\nFAIL "); j >= 0 {
			rest = rest[:j]
		}
		if !strings.Contains(rest, "["+string(c.Demo)+"]") {
			t.Errorf("%s failed without the %s rule:\n%s", c.Name, c.Demo, rest)
		}
	}
}

// Debian's 7.2 kernel, whose modules need gcc-16 from a toolchain root,
// patches and unpatches. Kernel: debian:7.2 amd64 (sid).
func TestE2EDebian72(t *testing.T) {
	requireQEMU(t)
	var stdout, stderr bytes.Buffer
	code := Main([]string{"run", "--kernel", "debian:7.2", "--case", "patch", "--case", "reverse-patch"}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != exitPass {
		t.Fatalf("exit %d, want %d", code, exitPass)
	}
	for _, c := range []string{"patch", "reverse-patch"} {
		if !strings.Contains(stdout.String(), "PASS "+c+" (debian:7.2 7.2.") {
			t.Errorf("no PASS line for %s on 7.2", c)
		}
	}
}

// --repeat runs the cases in fresh boots N times and counts per case: a
// case that fails every time is counted with its runs. With --jobs 2 the
// first run goes alone and the other two at once, and the reports still
// come in run order. Kernel: debian:6.1.
func TestE2ERepeat(t *testing.T) {
	requireQEMU(t)
	doc := filepath.Join(t.TempDir(), "repeat.json")
	var stdout, stderr bytes.Buffer
	code := Main([]string{"run", "--kernel", "debian:6.1", "--case", "patch", "--case", "demo-warn", "--repeat", "3", "--jobs", "2", "--json", doc}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	for _, want := range []string{"REPEAT patch: 3/3 passed\n", "REPEAT demo-warn: 0/3 passed, 3 failed (runs 1, 2, 3)\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if i1, i2, i3 := strings.Index(stdout.String(), "# run 1/3\n"), strings.Index(stdout.String(), "# run 2/3\n"), strings.Index(stdout.String(), "# run 3/3\n"); i1 < 0 || i2 < i1 || i3 < i2 {
		t.Errorf("runs' reports missing or out of order: at %d, %d, %d", i1, i2, i3)
	}
	if n := strings.Count(stderr.String(), " boot      "); n < 3 {
		t.Errorf("%d boots for 3 runs", n)
	}
	// The later runs report progress in lanes of their own.
	for _, lane := range []string{"run 2/3", "run 3/3"} {
		if !regexp.MustCompile(regexp.QuoteMeta(lane) + ` +boot `).MatchString(stderr.String()) {
			t.Errorf("stderr has no boot line in lane %q", lane)
		}
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := document.DecodeRepeat(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Schema != document.RepeatSchema || len(d.Runs) != 3 || len(d.Tallies) != 2 || d.Tallies[1].Fail != 3 {
		t.Errorf("document: schema %q, %d runs, tallies %+v", d.Schema, len(d.Runs), d.Tallies)
	}
	// Each run's document is whole, timelines included.
	for i, r := range d.Runs {
		if r.Result == nil || snapshots(r.Result) == 0 {
			t.Errorf("run %d: no snapshots in its document", i+1)
		}
	}
}

// snapshots counts a result's snapshots, over its boots and cases.
func snapshots(res *runner.Result) int {
	n := 0
	for _, b := range res.Boots {
		if b.Trace == nil {
			continue
		}
		for _, ct := range b.Trace.Cases {
			n += len(ct.Snapshots)
		}
	}
	return n
}
