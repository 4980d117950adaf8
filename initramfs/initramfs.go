// Package initramfs owns klptest's guest image: a u-root initramfs per
// GOARCH holding u-root's init, a shell and a few core commands, klptest's
// guest agent as uinit, and klptest's built .ko files under
// wire.ModuleDir (not /lib/modules, which u-root's init would load by
// itself). It builds the Go binaries as separate programs with the normal Go
// build cache and packs them with mkuimage's cpio writer; the result is
// cached by the content of everything that goes in.
package initramfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/wire"

	"github.com/klptest/klptest/pgroup"

	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/mkuimage/uimage/initramfs"
)

// Commands are the u-root commands in the image, besides init. They are
// pinned by `tool` directives in go.mod, so that `go mod tidy` keeps them.
var Commands = []string{"gosh", "cat", "ls", "dmesg", "ps", "insmod", "rmmod", "lsmod", "poweroff"}

const urootCmds = "github.com/u-root/u-root/cmds/core/"

// BuildTags are the guest binaries' build tags. goshliner: gosh edits lines
// with peterh/liner, which reads and draws in the caller's goroutine,
// instead of knz/bubbline on bubbletea v0.24.1, whose renderer deadlocks
// when a frame tick races the program's exit (the shell then hangs after
// Enter, as a busy guest showed in CI). bubbletea's fix (v0.24.2) asks for a
// bubbles that bubbline does not build with, and a replace directive would
// break `go install klptest@version`.
var BuildTags = []string{"goshliner"}

// GuestSources are the directories of this module whose Go files build into
// the guest; their content is part of the cache key. TestGuestSources
// keeps it equal to what the agent imports.
var GuestSources = []string{"cmd/klptest-agent", "guest", "cases", "rule", "wire", "kmod/table", "kmod/funcstack"}

// Spec says what goes into one image.
type Spec struct {
	GOARCH  string   // amd64 or arm64
	Modules []string // .ko files, placed under wire.ModuleDir
	// BootModules are the kernel's own driver modules the guest needs
	// (in load order), placed under wire.BootModuleDir.
	BootModules []string
	Src         string // klptest's module root (holds go.mod)
	// Extra are more files for the image, as image path (relative) to
	// host path; a directory goes in whole, its symlinks kept (the kernel
	// selftests' userland and scripts).
	Extra map[string]string
}

// Build returns the path of the cpio for spec, building it into cacheDir
// only when no sound image with the same content exists. built is false on
// a hit; notice, if set, hears of a corrupt image being rebuilt.
func Build(ctx context.Context, spec Spec, cacheDir string, notice func(string)) (path string, built bool, err error) {
	key, err := Key(spec)
	if err != nil {
		return "", false, err
	}
	path = filepath.Join(cacheDir, "initramfs", fmt.Sprintf("%s-%s.cpio", spec.GOARCH, key[:24]))
	unlock, ok, err := cachefs.Open(path, notice)
	if err != nil {
		return "", false, fmt.Errorf("initramfs %w", err)
	}
	defer unlock()
	if ok {
		return path, false, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".build-")
	if err != nil {
		return "", false, fmt.Errorf("initramfs cache: %w", err)
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, "bin")
	pkgs := []string{urootCmds + "init", "./cmd/klptest-agent"}
	for _, c := range Commands {
		pkgs = append(pkgs, urootCmds+c)
	}
	if err := goBuild(ctx, spec.Src, spec.GOARCH, bin, pkgs); err != nil {
		return "", false, err
	}

	files := initramfs.NewFiles()
	add := func(src, dst string) {
		if err == nil {
			err = files.AddFile(src, dst)
		}
	}
	add(filepath.Join(bin, "init"), "init")
	add(filepath.Join(bin, "klptest-agent"), "bin/uinit")
	for _, c := range Commands {
		add(filepath.Join(bin, c), "bin/"+c)
	}
	for _, m := range spec.Modules {
		add(m, strings.TrimPrefix(filepath.Join(wire.ModuleDir, filepath.Base(m)), "/"))
	}
	for i, m := range spec.BootModules {
		add(m, strings.TrimPrefix(filepath.Join(wire.BootModuleDir, fmt.Sprintf("%02d-%s", i, filepath.Base(m))), "/"))
	}
	for _, dst := range slices.Sorted(maps.Keys(spec.Extra)) {
		if err == nil {
			err = files.AddFileNoFollow(spec.Extra[dst], dst)
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("initramfs files: %w", err)
	}
	for _, l := range [][2]string{{"bin/sh", "gosh"}, {"bin/defaultsh", "gosh"}} {
		if err := files.AddRecord(cpio.Symlink(l[0], l[1])); err != nil {
			return "", false, err
		}
	}
	if err := writeImage(files, tmp, path); err != nil {
		return "", false, err
	}
	return path, true, nil
}

// writeImage writes files over u-root's base (the directories and device
// nodes, /dev/console among them, that the kernel and init expect) in tmp,
// then seals it and moves it into place at path.
func writeImage(files *initramfs.Files, tmp, path string) error {
	out := filepath.Join(tmp, "out.cpio")
	if err := initramfs.Write(&initramfs.Opts{
		Files:       files,
		OutputFile:  &initramfs.CPIOFile{Path: out},
		BaseArchive: &initramfs.Archive{Archive: uimage.DefaultRamfs()},
	}); err != nil {
		return fmt.Errorf("write initramfs %s: %w", filepath.Base(path), err)
	}
	if err := cachefs.Commit(out, path, "."); err != nil {
		return fmt.Errorf("initramfs %w", err)
	}
	return nil
}

// goBuild builds Go packages of the module at src, static, for the guest.
func goBuild(ctx context.Context, src, goarch, bin string, pkgs []string) error {
	args := append([]string{"build", "-trimpath", "-tags=" + strings.Join(BuildTags, ","), "-ldflags=-s -w", "-o", bin + "/"}, pkgs...)
	cmd := pgroup.Command(ctx, "go", args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build guest binaries for %s: %w\n%s", goarch, err, out)
	}
	return nil
}

// BareSources are the directories that build the bare init.
var BareSources = []string{"cmd/klptest-bareinit", "guest/bare"}

// BuildBare returns the path of klptest bench's bare image for goarch: the
// kernel's console device and cmd/klptest-bareinit as /init, no more.
func BuildBare(ctx context.Context, goarch, src, cacheDir string) (string, error) {
	key, err := sourceKey("klptest-bare v1", goarch, src, BareSources)
	if err != nil {
		return "", err
	}
	path := filepath.Join(cacheDir, "initramfs", fmt.Sprintf("bare-%s-%s.cpio", goarch, key[:24]))
	unlock, ok, err := cachefs.Open(path, nil)
	if err != nil {
		return "", fmt.Errorf("bare initramfs %w", err)
	}
	defer unlock()
	if ok {
		return path, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".build-")
	if err != nil {
		return "", fmt.Errorf("initramfs cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	if err := goBuild(ctx, src, goarch, bin, []string{"./cmd/klptest-bareinit"}); err != nil {
		return "", err
	}
	files := initramfs.NewFiles()
	if err := files.AddFile(filepath.Join(bin, "klptest-bareinit"), "init"); err != nil {
		return "", fmt.Errorf("bare initramfs: %w", err)
	}
	if err := writeImage(files, tmp, path); err != nil {
		return "", err
	}
	return path, nil
}

// Key hashes everything that goes into the image: the Go toolchain, go.mod
// and go.sum, the guest sources, the module files and the arch.
func Key(spec Spec) (string, error) {
	h := sha256.New()
	src, err := sourceKey("klptest-initramfs v1\n"+strings.Join(Commands, ",")+"\ntags "+strings.Join(BuildTags, ","), spec.GOARCH, spec.Src, GuestSources)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%s\n", src)
	for _, m := range append(append([]string{}, spec.Modules...), spec.BootModules...) {
		if err := hashFile(h, m, filepath.Base(m)); err != nil {
			return "", fmt.Errorf("initramfs key: %w", err)
		}
	}
	for _, dst := range slices.Sorted(maps.Keys(spec.Extra)) {
		if err := hashTree(h, spec.Extra[dst], dst); err != nil {
			return "", fmt.Errorf("initramfs key: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashTree hashes what AddFileNoFollow puts in the image from src: every
// file's content, symlink's target and directory's name, by image path.
func hashTree(h io.Writer, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %s %s\n", name, t)
		case d.IsDir():
			fmt.Fprintf(h, "dir %s\n", name)
		case d.Type().IsRegular():
			return hashFile(h, p, name)
		default:
			fmt.Fprintf(h, "node %s %v\n", name, d.Type())
		}
		return nil
	})
}

func hashFile(h io.Writer, p, name string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(h, "file %s\n", name)
	_, err = io.Copy(h, f)
	return err
}

// sourceKey hashes the Go toolchain, go.mod and go.sum, the Go files under
// dirs of the module at src, and the arch.
func sourceKey(label, goarch, src string, dirs []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", label, runtime.Version(), goarch)
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(h, filepath.Join(src, f), f); err != nil {
			return "", fmt.Errorf("initramfs key: %w (is %s klptest's source tree?)", err, src)
		}
	}
	var srcs []string
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(src, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				srcs = append(srcs, p)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("initramfs key: %w", err)
		}
	}
	sort.Strings(srcs)
	for _, p := range srcs {
		rel, _ := filepath.Rel(src, p)
		if err := hashFile(h, p, rel); err != nil {
			return "", fmt.Errorf("initramfs key: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
