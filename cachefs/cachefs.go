// Package cachefs owns the mechanics of klptest's cache entries: the locks
// that keep two klptest processes from building one entry twice, the
// checksums that catch an entry corrupted after it was made, and listing
// and pruning entries. What goes into an entry is its maker's business
// (kernels, kmod, initramfs).
package cachefs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Lock takes an exclusive lock on path (made if missing), waiting for it.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// tryLock takes the lock only if nobody holds it.
func tryLock(path string) (unlock func(), ok bool) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, true
}

// usePath is the cache-wide lock: every klptest process using the cache
// holds it shared, prune exclusive.
func usePath(root string) string { return filepath.Join(root, "klptest-in-use.lock") }

// Use marks the cache at root in use until release is called: prune then
// leaves it alone, including the entries a run reads without locking them.
func Use(root string) (release func(), err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(usePath(root), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", usePath(root), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", usePath(root), err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// ErrInUse: prune found a klptest process using the cache.
var ErrInUse = errors.New("a klptest process is using the cache; prune once it is done")

// LockPath is the lock file of an entry.
func LockPath(entry string) string { return entry + ".lock" }

// SumPath is the checksum file of an entry, beside it; its mtime is the
// entry's last use.
func SumPath(entry string) string { return entry + ".sum" }

// Seal records the SHA-256 of files (paths inside entry, or entry itself
// when it is a file) in the entry's checksum file. Call it on a complete
// entry, before it is used.
func Seal(entry string, files ...string) error {
	var b strings.Builder
	for _, f := range files {
		sum, err := hashFile(filepath.Join(entry, f))
		if err != nil {
			return fmt.Errorf("seal %s: %w", entry, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, f)
	}
	tmp := SumPath(entry) + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("seal %s: %w", entry, err)
	}
	return os.Rename(tmp, SumPath(entry))
}

// Open locks an entry for its maker (one build per entry across klptest
// processes: the second waits, then finds it made) and reports whether a
// sound entry is there. A corrupt or unsealed one is removed, and notice,
// if set, hears why, so that the caller makes it again.
func Open(entry string, notice func(string)) (unlock func(), ok bool, err error) {
	if err := os.MkdirAll(filepath.Dir(entry), 0o755); err != nil {
		return nil, false, fmt.Errorf("cache: %w", err)
	}
	unlock, err = Lock(LockPath(entry))
	if err != nil {
		return nil, false, err
	}
	if _, err := os.Stat(entry); err != nil {
		return unlock, false, nil
	}
	verr := Verify(entry)
	if verr == nil {
		return unlock, true, nil
	}
	if notice != nil {
		notice(verr.Error() + ": making it again")
	}
	if err := Remove(entry); err != nil {
		unlock()
		return nil, false, fmt.Errorf("cache: %w", err)
	}
	return unlock, false, nil
}

// Commit seals tmp, a finished entry made beside its place, with the sums
// of files, and moves it and its sums into place: a reader sees the whole
// entry or none, and an entry that lost its sums in a crash is made again.
func Commit(tmp, entry string, files ...string) error {
	if err := Seal(tmp, files...); err != nil {
		return err
	}
	if err := Remove(entry); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(tmp, entry); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(SumPath(tmp), SumPath(entry)); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// CorruptError says which file of an entry no longer matches its sum.
type CorruptError struct {
	Entry, File string
	Why         string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("cache entry %s: %s %s", e.Entry, e.File, e.Why)
}

// Verify checks an entry against its checksum file and marks it used. An
// entry without one (made by an older klptest, or cut short before its
// seal) fails too: it cannot be trusted.
func Verify(entry string) error {
	f, err := os.Open(SumPath(entry))
	if err != nil {
		return &CorruptError{Entry: entry, File: filepath.Base(SumPath(entry)), Why: "is missing: the entry was never sealed"}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			return &CorruptError{Entry: entry, File: filepath.Base(SumPath(entry)), Why: "is malformed"}
		}
		got, err := hashFile(filepath.Join(entry, name))
		if err != nil {
			return &CorruptError{Entry: entry, File: name, Why: "cannot be read: " + err.Error()}
		}
		if got != want {
			return &CorruptError{Entry: entry, File: name, Why: fmt.Sprintf("has SHA-256 %s…, sealed as %s…", got[:12], want[:12])}
		}
		n++
	}
	if n == 0 {
		return &CorruptError{Entry: entry, File: filepath.Base(SumPath(entry)), Why: "lists no file"}
	}
	now := time.Now()
	os.Chtimes(SumPath(entry), now, now)
	return nil
}

// Remove deletes an entry and its checksum file: first renamed aside, so
// that no reader sees it half gone.
func Remove(entry string) error {
	os.Remove(SumPath(entry))
	trash := filepath.Join(filepath.Dir(entry), ".trash-"+filepath.Base(entry)+fmt.Sprintf("-%d", time.Now().UnixNano()))
	if err := os.Rename(entry, trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(trash)
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Entry is one cache entry, as listed.
type Entry struct {
	Kind     string    `json:"kind"` // the cache's subdir: kernels, kmod, ...
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	LastUsed time.Time `json:"last_used"`
	Sealed   bool      `json:"sealed"`
}

// Kinds are the cache's subdirs that hold entries.
var Kinds = []string{"kernels", "kmod", "initramfs", "build", "src", "toolchains", "kselftest-modules", "kselftest-helpers", "kselftest-userland"}

// List returns the entries under root, oldest use first. Temporaries
// (".part", ".build-", ".trash-"), locks and sums are not entries.
func List(root string) ([]Entry, error) {
	var out []Entry
	for _, kind := range Kinds {
		des, err := os.ReadDir(filepath.Join(root, kind))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			n := de.Name()
			if strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".lock") || strings.HasSuffix(n, ".sum") || strings.HasSuffix(n, ".part") || strings.HasSuffix(n, ".tmp") {
				continue
			}
			p := filepath.Join(root, kind, n)
			e := Entry{Kind: kind, Name: n, Path: p, Size: du(p)}
			if st, err := os.Stat(SumPath(p)); err == nil {
				e.Sealed, e.LastUsed = true, st.ModTime()
			} else if st, err := os.Stat(p); err == nil {
				e.LastUsed = st.ModTime()
			}
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastUsed.Before(out[j].LastUsed) })
	return out, nil
}

// du is the disk usage of a file or tree, in bytes.
func du(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// Prune removes the entries last used before cutoff, skipping those whose
// lock someone holds (a run using or making them). It returns what it
// removed and what it skipped as in use.
func Prune(root string, cutoff time.Time) (removed, busy []Entry, err error) {
	// No run may be under way: a run reads entries (a kernel's headers,
	// a toolchain root) without holding their locks.
	unlock, ok := tryLock(usePath(root))
	if !ok {
		return nil, nil, ErrInUse
	}
	defer unlock()
	es, err := List(root)
	if err != nil {
		return nil, nil, err
	}
	sweepTemporaries(root)
	for _, e := range es {
		if !e.LastUsed.Before(cutoff) {
			continue
		}
		unlock, ok := tryLock(LockPath(e.Path))
		if !ok {
			busy = append(busy, e)
			continue
		}
		// The lock file stays: unlinked, a waiter on the old file and a
		// newcomer on a new one could both hold "the" lock.
		rerr := Remove(e.Path)
		unlock()
		if rerr != nil {
			return removed, busy, fmt.Errorf("prune %s: %w", e.Path, rerr)
		}
		removed = append(removed, e)
	}
	return removed, busy, nil
}

// sweepTemporaries removes what interrupted work left: half-made entries
// (.build-*, *.part) and half-removed ones (.trash-*), with their stray
// sums. Prune calls it with the cache to itself, so none is in progress.
func sweepTemporaries(root string) {
	for _, kind := range Kinds {
		des, _ := os.ReadDir(filepath.Join(root, kind))
		for _, de := range des {
			n := de.Name()
			if strings.HasPrefix(n, ".build-") || strings.HasPrefix(n, ".trash-") || strings.HasSuffix(n, ".part") || strings.HasSuffix(n, ".part.sum") || strings.HasSuffix(n, ".tmp") {
				os.RemoveAll(filepath.Join(root, kind, n))
			}
		}
	}
}

// Touch marks an entry without a checksum file used now, for prune.
func Touch(entry string) {
	now := time.Now()
	os.Chtimes(entry, now, now)
}
