//go:build e2e

// The installed binary: go install of this checkout as a module version,
// then klptest run from an unrelated directory, with no checkout to find.
// Kernel: debian:6.12 amd64.
package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klptest/klptest/kernels"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// checkoutFile is one file of the checkout, for the module zip.
type checkoutFile struct{ root, rel string }

func (f checkoutFile) Path() string                 { return f.rel }
func (f checkoutFile) Lstat() (os.FileInfo, error)  { return os.Lstat(filepath.Join(f.root, f.rel)) }
func (f checkoutFile) Open() (io.ReadCloser, error) { return os.Open(filepath.Join(f.root, f.rel)) }

// checkoutFiles are the checkout's files as git knows them (tracked, and
// untracked but not ignored), as they are on disk: not whatever else lies
// in the directory, such as a klptest cache that XDG_CACHE_HOME put inside
// it, which would make the zip too large for a module.
func checkoutFiles(t *testing.T, root string) []modzip.File {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v", root, err)
	}
	cache, _ := kernels.CacheDir()
	var files []modzip.File
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		abs := filepath.Join(root, rel)
		if _, err := os.Lstat(abs); err != nil { // deleted, not yet committed
			continue
		}
		if cache != "" && (abs == cache || strings.HasPrefix(abs, cache+string(filepath.Separator))) {
			continue
		}
		files = append(files, checkoutFile{root, filepath.ToSlash(rel)})
	}
	return files
}

// fileProxy writes a GOPROXY directory serving this checkout as a version
// no other proxy serves, named after the sources' digest: the module cache
// never changes what it holds for a version, so new sources need a new one.
func fileProxy(t *testing.T, root string) (proxy, installVersion string) {
	t.Helper()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := checkoutFiles(t, src)
	var z bytes.Buffer
	probe := module.Version{Path: "github.com/klptest/klptest", Version: "v0.0.0-20261125000000-000000000000"}
	if err := modzip.Create(&z, probe, files); err != nil {
		t.Fatalf("module zip of %s: %v", src, err)
	}
	installVersion = fmt.Sprintf("v0.0.0-20261125000000-%x", sha256.Sum256(z.Bytes()))[:len(probe.Version)]
	mv := module.Version{Path: probe.Path, Version: installVersion}
	dir := filepath.Join(root, "proxy", mv.Path, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	z.Reset()
	if err := modzip.Create(&z, mv, files); err != nil {
		t.Fatalf("module zip of %s: %v", src, err)
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		installVersion + ".zip":  z.Bytes(),
		installVersion + ".mod":  gomod,
		installVersion + ".info": []byte(`{"Version":"` + installVersion + `","Time":"2026-11-25T00:00:00Z"}`),
		"list":                   []byte(installVersion + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := zip.NewReader(bytes.NewReader(z.Bytes()), int64(z.Len())); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "proxy"), installVersion
}

func TestE2EInstalledBinary(t *testing.T) {
	requireQEMU(t)
	root := t.TempDir()
	proxy, installVersion := fileProxy(t, root)
	out, _ := exec.Command("go", "env", "GOPROXY").Output()
	bin := filepath.Join(root, "bin")
	install := exec.Command("go", "install", "github.com/klptest/klptest/cmd/klptest@"+installVersion)
	install.Dir = root // no go.mod around: module-aware install of a version
	install.Env = append(os.Environ(), "GOBIN="+bin, "GOPROXY=file://"+proxy+","+strings.TrimSpace(string(out)),
		"GONOSUMDB=github.com/klptest/klptest", "GOFLAGS=", "KLPTEST_SRC=")
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, b)
	}
	elsewhere := t.TempDir()
	run := exec.Command(filepath.Join(bin, "klptest"), "run", "--kernel", "debian:6.12", "--case", "patch")
	run.Dir = elsewhere
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KLPTEST_SRC=") {
			env = append(env, e)
		}
	}
	run.Env = env
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	err := run.Run()
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("installed klptest run from %s: %v", elsewhere, err)
	}
	if !strings.Contains(stdout.String(), "PASS patch (debian:6.12") {
		t.Errorf("no PASS line")
	}
	if !strings.Contains(stdout.String(), "klptest "+installVersion) {
		t.Errorf("the result is not labelled with the installed version %s", installVersion)
	}
}
