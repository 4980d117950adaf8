package initramfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/klptest/klptest/cachefs"
	"github.com/u-root/mkuimage/cpio"
)

// The bare image holds its init and the console device the kernel opens
// for it, and a second build is a sealed cache hit.
func TestBuildBare(t *testing.T) {
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	path, err := BuildBare(context.Background(), "arm64", src, cache)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(f))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cpio.Record{}
	for _, r := range recs {
		got[r.Name] = r
	}
	if r, ok := got["init"]; !ok || r.Mode&cpio.S_IFMT != cpio.S_IFREG || r.FileSize == 0 {
		t.Errorf("init: %+v", r.Info)
	}
	if r, ok := got["dev/console"]; !ok || r.Mode&cpio.S_IFMT != cpio.S_IFCHR {
		t.Errorf("dev/console: %+v", r.Info)
	}
	if err := cachefs.Verify(path); err != nil {
		t.Errorf("not sealed: %v", err)
	}
	again, err := BuildBare(context.Background(), "arm64", src, cache)
	if err != nil || again != path {
		t.Errorf("second build: %q, %v; want the cached %q", again, err, path)
	}
}
