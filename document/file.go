package document

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes path with write, aside first (a temp file in path's
// dir) and then renamed into place: a write that fails leaves no half
// document under path, and whatever path held before stays.
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644) // as os.WriteFile would make it, umask aside
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// WriteJSON writes v to path as WriteFile does, compact, on one line.
func WriteJSON(path string, v any) error {
	return WriteFile(path, func(w io.Writer) error { return json.NewEncoder(w).Encode(v) })
}
