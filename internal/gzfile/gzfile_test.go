package gzfile

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	want := []byte(`{"schema":"klptest/run"}`)
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(want)
	w.Close()
	for name, content := range map[string][]byte{"a.json": want, "a.json.gz": z.Bytes()} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Read(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	// A .gz that is not gzip, and a missing file, are errors.
	bad := filepath.Join(dir, "b.json.gz")
	os.WriteFile(bad, want, 0o644)
	if _, err := Read(bad); err == nil {
		t.Error("a .gz file that is not gzip read without an error")
	}
	if _, err := Read(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file read without an error")
	}
}
