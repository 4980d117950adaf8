package runner

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"golang.org/x/mod/module"
)

// Version names this klptest: the module version and VCS revision Go
// stamped into the binary, else the commit of the source tree src (go run
// stamps none), with "-dirty" for local changes.
func Version(src string) string {
	v, rev, dirty := "devel", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev == "" && src != "" {
		if out, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output(); err == nil {
			rev = strings.TrimSpace(string(out))
			st, _ := exec.Command("git", "-C", src, "status", "--porcelain", "--untracked-files=no").Output()
			dirty = len(st) > 0
		}
	}
	if rev == "" {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return v + " " + rev
}

// modulePath is klptest's Go module.
const modulePath = "github.com/klptest/klptest"

// FindSrc locates klptest's source tree: KLPTEST_SRC, else a checkout
// around the working directory or the executable, else the module cache's
// copy of the installed version.
func FindSrc() (string, error) {
	if d := os.Getenv("KLPTEST_SRC"); d != "" {
		return d, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, d := range starts {
		for ; ; d = filepath.Dir(d) {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/klptest/klptest\n") {
				return d, nil
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	// An installed klptest (go install .../cmd/klptest@VERSION): the
	// install put the module's source, with its go.sum, in the module cache.
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == modulePath && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		if esc, err := module.EscapePath(bi.Main.Path); err == nil {
			if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
				d := filepath.Join(strings.TrimSpace(string(out)), esc+"@"+bi.Main.Version)
				if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
					return d, nil
				}
			}
		}
	}
	return "", errors.New("klptest builds its guest agent from its source tree: run it inside a klptest checkout, set KLPTEST_SRC, or install it with go install " + modulePath + "/cmd/klptest@latest (Go must be on PATH)")
}
