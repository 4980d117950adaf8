package kernels

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestTreeState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("all:\n"), 0o644)
	plain, err := TreeState(ctx, dir)
	if err != nil || !strings.HasPrefix(plain, "files ") {
		t.Fatalf("plain tree: %q %v", plain, err)
	}
	if again, _ := TreeState(ctx, dir); again != plain {
		t.Errorf("same tree, two states: %q %q", plain, again)
	}
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("all: x\n"), 0o644)
	if changed, _ := TreeState(ctx, dir); changed == plain {
		t.Errorf("a changed file did not change the state")
	}

	git := func(args ...string) {
		out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "Makefile")
	git("commit", "-q", "-m", "one")
	clean, err := TreeState(ctx, dir)
	if err != nil || !strings.HasPrefix(clean, "git ") || strings.Contains(clean, "dirty") {
		t.Fatalf("clean git tree: %q %v", clean, err)
	}
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("all: y\n"), 0o644)
	dirty1, _ := TreeState(ctx, dir)
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("all: z\n"), 0o644)
	dirty2, _ := TreeState(ctx, dir)
	if !strings.Contains(dirty1, " dirty ") || dirty1 == dirty2 {
		t.Errorf("dirty states %q, %q: want dirty and different", dirty1, dirty2)
	}
	git("checkout", "-q", "Makefile")
	os.WriteFile(filepath.Join(dir, "new.c"), []byte("int x;\n"), 0o644)
	if untracked, _ := TreeState(ctx, dir); untracked == clean {
		t.Errorf("an untracked file did not change the state")
	}
}

func TestMissingCrossCompiler(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, a := range arches {
		err := a.CheckCompiler()
		if !a.Cross() {
			if err != nil {
				t.Errorf("%s is the host's arch: %v", a.Name, err)
			}
			continue
		}
		var me *MissingToolError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), "apt-get install "+a.CrossDeb) || !strings.Contains(err.Error(), a.CrossPrefix+"gcc") {
			t.Errorf("%s: %v", a.Name, err)
		}
	}
	// src: builds check their tools before anything is fetched.
	s := &Source{Cache: t.TempDir()}
	_, err := s.Build(context.Background(), Ref{Kind: "src", Series: "7.2"}, "arm64")
	if err == nil || !strings.Contains(err.Error(), "not on PATH: install it (apt-get install") || strings.Contains(err.Error(), "\n") {
		t.Errorf("build without tools: %v", err)
	}
}

func TestArchs(t *testing.T) {
	for _, tt := range []struct{ in, name, deb, goarch string }{
		{"x86_64", "x86_64", "amd64", "amd64"}, {"amd64", "x86_64", "amd64", "amd64"},
		{"arm64", "arm64", "arm64", "arm64"}, {"aarch64", "arm64", "arm64", "arm64"},
	} {
		a, err := LookupArch(tt.in)
		if err != nil || a.Name != tt.name || a.Deb != tt.deb || a.GOARCH != tt.goarch {
			t.Errorf("LookupArch(%q) = %+v, %v", tt.in, a, err)
		}
	}
	if _, err := LookupArch("riscv64"); err == nil || !strings.Contains(err.Error(), "known: x86_64, arm64") {
		t.Errorf("unknown arch: %v", err)
	}
}
