//go:build e2e

package kernels

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Debian's 7.2 amd64 kernel is built with gcc-16, which Debian 12 lacks:
// resolving it makes (or reuses) a toolchain root with mmdebstrap, and the
// root's compiler runs under bubblewrap with the kernel's cache entry at
// its own path. Kernel: debian:7.2 (sid). Booting it with our modules is
// TestE2EDebian72 in cmd/klptest.
func TestE2EToolchainRoot(t *testing.T) {
	if _, err := exec.LookPath("gcc-16"); err == nil {
		t.Fatal("this host has gcc-16: the toolchain root would not be used")
	}
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	d := &Debian{Cache: cache, Progress: t.Logf}
	spec, err := d.Fetch(context.Background(), Ref{Kind: "debian", Series: "7.2"}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Toolchain == "" || !strings.HasSuffix(spec.CC, "gcc-16") {
		t.Fatalf("debian:7.2: toolchain %q, cc %q; want a root for gcc-16", spec.Toolchain, spec.CC)
	}
	stamp, err := os.ReadFile(filepath.Join(spec.Toolchain, "klptest-toolchain"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", spec.Toolchain, stamp)
	for _, dep := range spec.BuildDepends {
		if !strings.Contains(string(stamp), dep) {
			t.Errorf("the root lacks %s, which linux-kbuild needs", dep)
		}
	}
	out, err := exec.Command("bwrap", "--bind", spec.Toolchain, "/", "--ro-bind", spec.Root, spec.Root,
		"--proc", "/proc", "--dev", "/dev", "--", spec.CC, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "16.") {
		t.Fatalf("%s --version in the root: %v\n%s", spec.CC, err, out)
	}
}
