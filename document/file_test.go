package document

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A write that fails leaves what the path held and no temp file; one that
// works replaces it whole.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	if err := os.WriteFile(path, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := WriteFile(path, func(w io.Writer) error {
		io.WriteString(w, `{"schema":`)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if b, _ := os.ReadFile(path); string(b) != "before\n" {
		t.Errorf("after a failed write the file holds %q, want what it held", b)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("after a failed write the dir holds %d entries, want the file alone", len(es))
	}
	if err := WriteJSON(path, Tally{Case: "patch", Pass: 1}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := `{"case":"patch","pass":1,"fail":0,"skip":0}` + "\n"; string(b) != want {
		t.Errorf("file holds %q, want %q", b, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("after a write the dir holds %d entries, want the file alone", len(es))
	}
	// No dir to write aside in: an error, nothing made.
	if err := WriteJSON(filepath.Join(dir, "gone", "x.json"), 1); err == nil {
		t.Error("writing into a missing dir: no error")
	}
}
