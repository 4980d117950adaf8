package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klptest/klptest/cachefs"
)

// klptest cache ls shows each entry with its size and checksum state;
// prune removes those unused for longer than asked, and nothing else.
func TestCacheLsPrune(t *testing.T) {
	root := t.TempDir()
	t.Setenv("KLPTEST_CACHE", root)
	old := filepath.Join(root, "kmod", "6.1.0-56-amd64-aaaa")
	recent := filepath.Join(root, "initramfs", "amd64-bbbb.cpio")
	os.MkdirAll(old, 0o755)
	os.WriteFile(filepath.Join(old, "klpt_probe.ko"), make([]byte, 3000), 0o644)
	cachefs.Seal(old, "klpt_probe.ko")
	os.MkdirAll(filepath.Dir(recent), 0o755)
	os.WriteFile(recent, make([]byte, 9000), 0o644)
	long := time.Now().Add(-40 * 24 * time.Hour)
	os.Chtimes(cachefs.SumPath(old), long, long)

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"cache"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := run("ls")
	if code != exitPass || !strings.Contains(out, "kmod") || !strings.Contains(out, "sealed    6.1.0-56-amd64-aaaa") ||
		!strings.Contains(out, "missing   amd64-bbbb.cpio") || !strings.Contains(out, "# 2 entries") {
		t.Errorf("cache ls: exit %d:\n%s", code, out)
	}
	for _, bad := range [][]string{{}, {"rm"}, {"prune"}, {"prune", "--older-than", "soon"}, {"ls", "--older-than", "1d"}} {
		if code, _, errb := run(bad...); code != exitUsage || errb == "" {
			t.Errorf("cache %q: exit %d, stderr %q; want a usage error", bad, code, errb)
		}
	}
	code, out, _ = run("prune", "--older-than", "30d")
	if code != exitPass || !strings.Contains(out, "removed kmod/6.1.0-56-amd64-aaaa") || strings.Contains(out, "bbbb") {
		t.Errorf("cache prune --older-than 30d: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(old); err == nil {
		t.Errorf("%s survived the prune", old)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("%s was pruned: %v", recent, err)
	}
}
