package cachefs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSealVerify(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "kmod", "6.1-abc")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "a.ko"), []byte("module a"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.ko"), []byte("module b"), 0o644)
	file := filepath.Join(root, "initramfs", "amd64-x.cpio")
	os.MkdirAll(filepath.Dir(file), 0o755)
	os.WriteFile(file, []byte("070701..."), 0o644)

	var ce *CorruptError
	if err := Verify(dir); !errors.As(err, &ce) || !strings.Contains(err.Error(), "never sealed") {
		t.Errorf("unsealed: %v", err)
	}
	if err := Seal(dir, "a.ko", "b.ko"); err != nil {
		t.Fatal(err)
	}
	if err := Seal(file, "."); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{dir, file} {
		if err := Verify(e); err != nil {
			t.Errorf("sealed %s: %v", e, err)
		}
	}
	// One byte flipped.
	b, _ := os.ReadFile(filepath.Join(dir, "b.ko"))
	b[0] ^= 1
	os.WriteFile(filepath.Join(dir, "b.ko"), b, 0o644)
	if err := Verify(dir); !errors.As(err, &ce) || ce.File != "b.ko" {
		t.Errorf("flipped byte: %v, want b.ko named", err)
	}
	os.Remove(filepath.Join(dir, "a.ko"))
	if err := Verify(dir); !errors.As(err, &ce) || ce.File != "a.ko" {
		t.Errorf("missing file: %v, want a.ko named", err)
	}
}

func TestListPrune(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "kmod", "old")
	recent := filepath.Join(root, "kmod", "recent")
	held := filepath.Join(root, "initramfs", "held.cpio")
	for _, d := range []string{old, recent} {
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "x.ko"), make([]byte, 5000), 0o644)
		Seal(d, "x.ko")
	}
	os.MkdirAll(filepath.Dir(held), 0o755)
	os.WriteFile(held, []byte("cpio"), 0o644)
	Seal(held, ".")
	os.MkdirAll(filepath.Join(root, "kmod", ".build-123"), 0o755) // a temporary, not an entry
	long := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(SumPath(old), long, long)
	os.Chtimes(SumPath(held), long, long)

	es, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Kind+"/"+e.Name)
		if !e.Sealed || e.Size == 0 {
			t.Errorf("%s: sealed %v, size %d", e.Name, e.Sealed, e.Size)
		}
	}
	if strings.Join(names, " ") != "kmod/old initramfs/held.cpio kmod/recent" && strings.Join(names, " ") != "initramfs/held.cpio kmod/old kmod/recent" {
		t.Errorf("List = %v", names)
	}

	os.MkdirAll(filepath.Join(root, "kmod", ".trash-x-1"), 0o755) // a crash in Remove

	// A run using the cache: prune refuses.
	release, err := Use(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Prune(root, time.Now()); !errors.Is(err, ErrInUse) {
		t.Errorf("Prune during a run: %v, want ErrInUse", err)
	}
	release()

	unlock, err := Lock(LockPath(held)) // being made again
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	removed, busy, err := Prune(root, time.Now().Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Path != old || len(busy) != 1 || busy[0].Path != held {
		t.Errorf("Prune removed %v, busy %v", removed, busy)
	}
	for p, want := range map[string]bool{old: false, SumPath(old): false, recent: true, held: true,
		filepath.Join(root, "kmod", ".build-123"): false, filepath.Join(root, "kmod", ".trash-x-1"): false} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", p, err == nil, want)
		}
	}
}
