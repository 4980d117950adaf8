//go:build e2e

// klptest matrix end to end: a cell that fails and a cell that cannot boot.
// Kernels: debian:6.1 amd64, and a tree made of debian:6.12's headers with
// its image cut in half (real QEMU fails to boot it).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/runner"
)

// brokenTree makes a tree: kernel klptest accepts (built tree layout, the
// right image magic and sizes, a livepatch config, a module build dir) but
// that cannot boot: debian:6.12's headers (its virtio drivers are built
// in), linked, with the second half of its image zeroed. (A truncated
// image no longer gets that far: klptest refuses it by its header.)
func brokenTree(t *testing.T) string {
	t.Helper()
	cache, err := kernels.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	k, err := kernels.Resolver{Cache: cache}.Resolve(context.Background(), kernels.Ref{Kind: "debian", Series: "6.12"}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(t.TempDir(), "tree")
	if out, err := exec.Command("cp", "-as", k.BuildDir, tree).CombinedOutput(); err != nil {
		t.Fatalf("link %s: %v: %s", k.BuildDir, err, out)
	}
	img, err := os.ReadFile(k.Image)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(tree, "include/config"), 0o755)
	os.WriteFile(filepath.Join(tree, "include/config/kernel.release"), []byte(k.Release+"\n"), 0o644)
	os.MkdirAll(filepath.Join(tree, "arch/x86/boot"), 0o755)
	os.Remove(filepath.Join(tree, "arch/x86/boot/bzImage"))
	clear(img[len(img)/2:])
	if err := os.WriteFile(filepath.Join(tree, "arch/x86/boot/bzImage"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	return tree
}

// A failing cell shows FAIL with its rule, a cell that cannot boot shows
// SKIP with the cause, and the exit status is 1 (a cell failed); with only
// the unbootable cell it is 125 (no cell could run).
func TestE2EMatrixFailAndSkip(t *testing.T) {
	requireQEMU(t)
	tree := brokenTree(t)
	// Its decompressor fails at once; no need to wait the full bound.
	defer func(d time.Duration) { runner.BootTimeout = d }(runner.BootTimeout)
	runner.BootTimeout = 30 * time.Second
	file := filepath.Join(t.TempDir(), "kernels.yaml")
	os.WriteFile(file, []byte(`version: 1
cells:
  - name: fails
    kernel: debian:6.1
    arch: x86_64
    cases: [demo-lost-flag]
  - name: cannot-boot
    kernel: tree:`+tree+`
    arch: x86_64
    cases: [patch]
`), 0o644)
	out := filepath.Join(t.TempDir(), "m.json")
	junit := filepath.Join(t.TempDir(), "junit.xml")
	var stdout, stderr bytes.Buffer
	code := Main([]string{"matrix", file, "--jobs", "1", "--json", out, "--junit", junit}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != exitFail {
		t.Errorf("exit %d, want %d (a cell failed)", code, exitFail)
	}
	table := stdout.String()
	// Rows: CELL CASE VERDICT DETAIL...
	var fail, skip []string
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "fails" && f[1] == "demo-lost-flag":
			fail = f[2:]
		case len(f) >= 3 && f[0] == "cannot-boot" && f[1] == "patch":
			skip = f[2:]
		}
	}
	if len(fail) < 2 || fail[0] != "FAIL" || fail[1] != "pending-flag" {
		t.Errorf("failing cell: %q, want FAIL pending-flag", fail)
	}
	if len(skip) < 2 || skip[0] != "SKIP" || !strings.Contains(strings.Join(skip[1:], " "), "did not boot") {
		t.Errorf("unbootable cell: %q, want SKIP saying the kernel did not boot", skip)
	}
	var doc struct {
		Cells []struct {
			Skip string `json:"skip"`
		} `json:"cells"`
	}
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Cells) != 2 || doc.Cells[0].Skip != "" || doc.Cells[1].Skip == "" {
		t.Errorf("--json: %v %+v", err, doc)
	}
	if x, _ := os.ReadFile(junit); !strings.Contains(string(x), `<testsuite name="cannot-boot" tests="1" failures="0" errors="0" skipped="1"`) {
		t.Errorf("--junit lacks the skipped cell:\n%s", x)
	}

	stdout.Reset()
	stderr.Reset()
	code = Main([]string{"matrix", file, "--only", "cannot-boot"}, &stdout, &stderr)
	if code != exitInfra {
		t.Errorf("only the unbootable cell: exit %d, want %d\n%s", code, exitInfra, stdout.String())
	}
}
