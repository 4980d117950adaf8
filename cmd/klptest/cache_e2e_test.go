//go:build e2e

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/initramfs"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/kmod"
)

// flipByte corrupts one byte in the middle of a file.
func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Cache integrity on a fresh cache, no VM: two klptest processes fetching
// one kernel at once download it once, and a byte flipped in a kernel
// image, a built module or an initramfs is caught by its checksum and the
// entry made again. Kernel: debian:6.1 amd64 (downloaded).
func TestE2ECacheIntegrity(t *testing.T) {
	bin := buildKlptest(t)
	cache := t.TempDir()
	t.Setenv("KLPTEST_CACHE", cache)
	info := func() (string, error) {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "kernel", "info", "debian:6.1")
		cmd.Env = append(os.Environ(), "CI=true")
		cmd.Stderr = &stderr
		err := cmd.Run()
		return stderr.String(), err
	}

	var wg sync.WaitGroup
	logs := make([]string, 2)
	for i := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if logs[i], err = info(); err != nil {
				t.Errorf("kernel info %d: %v\n%s", i, err, logs[i])
			}
		}()
	}
	wg.Wait()
	downloaders := 0
	for _, l := range logs {
		if strings.Contains(l, "] download linux-image-") {
			downloaders++
		}
	}
	if downloaders != 1 {
		t.Errorf("%d processes downloaded the kernel, want 1:\n%s\n---\n%s", downloaders, logs[0], logs[1])
	}

	ctx := context.Background()
	k, err := kernels.Resolver{Cache: cache}.Resolve(ctx, kernels.Ref{Kind: "debian", Series: "6.1"}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, k.Image)
	l, err := info()
	if err != nil || !strings.Contains(l, filepath.Base(k.Image)+" has SHA-256") || !strings.Contains(l, "fetching it again") {
		t.Errorf("corrupt kernel image: %v\n%s", err, l)
	}
	if err := cachefs.Verify(k.Root); err != nil {
		t.Errorf("after the fetch: %v", err)
	}

	var notices []string
	notice := func(s string) { notices = append(notices, s) }
	kos, _, err := kmod.Build(ctx, k, cache, notice)
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, kos[0])
	if _, built, err := kmod.Build(ctx, k, cache, notice); err != nil || !built || len(notices) != 1 || !strings.Contains(notices[0], filepath.Base(kos[0])+" has SHA-256") {
		t.Errorf("corrupt module: built %v, err %v, notices %q", built, err, notices)
	}

	src, _ := filepath.Abs("../..")
	spec := initramfs.Spec{GOARCH: "amd64", Modules: kos, BootModules: k.GuestModules, Src: src}
	cpio, _, err := initramfs.Build(ctx, spec, cache, notice)
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, cpio)
	if _, built, err := initramfs.Build(ctx, spec, cache, notice); err != nil || !built || len(notices) != 2 || !strings.Contains(notices[1], "has SHA-256") {
		t.Errorf("corrupt initramfs: built %v, err %v, notices %q", built, err, notices)
	}
	if _, built, err := initramfs.Build(ctx, spec, cache, notice); err != nil || built {
		t.Errorf("third build: built %v, err %v; want a cache hit", built, err)
	}
}
