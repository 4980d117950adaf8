package kselftest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/kmod"
	"github.com/klptest/klptest/pgroup"
	"github.com/klptest/klptest/wire"
)

// Image paths (relative): the guest agent runs the scripts chrooted into
// RootDir, with the selftests' directory at SuiteDir inside it.
var (
	RootDir  = strings.TrimPrefix(wire.KselftestRoot, "/")
	SuiteDir = strings.TrimPrefix(wire.KselftestDir, "/")
)

// UserlandPackages are the Debian packages the scripts' commands come
// from: bash; coreutils (date --rfc-3339, stat --format, seq); grep, sed
// and awk; kmod (insmod, rmmod, modinfo); procps (sysctl --values);
// util-linux (dmesg); diffutils; libc-bin (getconf). They are the real
// tools, not look-alikes, because the scripts use GNU options.
var UserlandPackages = []string{"bash", "coreutils", "diffutils", "grep", "kmod", "libc-bin", "mawk", "procps", "sed", "util-linux"}

// UserlandSuite is the Debian release the userland comes from.
const UserlandSuite = "bookworm"

// Guest is what a kselftest boot adds to the image, as image path (relative)
// to host path; a directory goes in whole, its symlinks kept.
type Guest struct {
	Suite *Suite
	Files map[string]string
}

// Prepare finds the selftests of kernel k, checks k's config against
// theirs, and builds what the guest needs to run them, into cache.
func Prepare(ctx context.Context, k *kernels.Spec, cache string, progress func(string)) (*Guest, error) {
	src := k.Source
	if src == "" {
		ref, err := kernels.ParseRef(k.Name)
		if err != nil || ref.Kind != "debian" {
			return nil, fmt.Errorf("kernel %s has no source tree to take the livepatch selftests from: use src:PATH, or a tree: built in place", k.Name)
		}
		d := &kernels.Debian{Cache: cache, Progress: func(f string, a ...any) { progress(fmt.Sprintf(f, a...)) }}
		if src, _, err = d.Source(ctx, ref.Series, k.Version); err != nil {
			return nil, fmt.Errorf("the livepatch selftests of %s come from linux-source-%s: %w", k.Name, ref.Series, err)
		}
	}
	s, err := Load(src)
	if err != nil {
		return nil, err
	}
	cfg, err := kernels.ReadConfig(k.Config)
	if err != nil {
		return nil, err
	}
	if miss := s.MissingConfig(cfg); len(miss) > 0 {
		return nil, fmt.Errorf("kernel %s (%s) lacks what the livepatch selftests need (%s/config): %s; a src: kernel gets them from klptest's kselftest fragment (--suite kselftest adds it)",
			k.Name, k.Release, Dir, strings.Join(miss, ", "))
	}
	a, err := kernels.LookupArch(k.Arch)
	if err != nil {
		return nil, err
	}
	g := &Guest{Suite: s, Files: map[string]string{}}

	progress("build the selftests' modules against " + k.BuildDir)
	kos, _, err := kmod.BuildExternal(ctx, k, cache, "kselftest-modules", os.DirFS(filepath.Join(s.Dir, "test_modules")), s.Modules, progress)
	if err != nil {
		return nil, err
	}
	for _, ko := range kos {
		g.Files[filepath.Join(RootDir, SuiteDir, "test_modules", filepath.Base(ko))] = ko
	}
	helpers, err := buildHelpers(ctx, s, a, cache, progress)
	if err != nil {
		return nil, err
	}
	for name, p := range helpers {
		g.Files[filepath.Join(RootDir, SuiteDir, name)] = p
	}
	for _, f := range append([]string{"functions.sh", "settings"}, s.Scripts...) {
		p := filepath.Join(s.Dir, f)
		if _, err := os.Stat(p); err == nil {
			g.Files[filepath.Join(RootDir, SuiteDir, f)] = p
		} else if f != "settings" {
			return nil, fmt.Errorf("livepatch selftests: %w", err)
		}
	}
	root, err := Userland(ctx, a, cache, progress)
	if err != nil {
		return nil, err
	}
	g.Files[RootDir] = root
	return g, nil
}

// buildHelpers compiles the scripts' C programs (TEST_GEN_FILES) static,
// for the guest's arch, cached by their sources and the compiler.
func buildHelpers(ctx context.Context, s *Suite, a kernels.Arch, cache string, progress func(string)) (map[string]string, error) {
	cc := "gcc"
	if a.Cross() {
		cc = a.CrossPrefix + "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		return nil, &kernels.MissingToolError{Tool: cc, Package: a.CrossDeb, For: "building the livepatch selftests' programs for " + a.Name}
	}
	h := sha256.New()
	fmt.Fprintf(h, "klptest-kselftest-helpers v1\n%s\n%s\n", a.Name, cc)
	for _, n := range s.Helpers {
		b, err := os.ReadFile(filepath.Join(s.Dir, n+".c"))
		if err != nil {
			return nil, fmt.Errorf("livepatch selftests' program %s: %w", n, err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	dir := filepath.Join(cache, "kselftest-helpers", a.Name+"-"+hex.EncodeToString(h.Sum(nil))[:24])
	out := map[string]string{}
	for _, n := range s.Helpers {
		out[n] = filepath.Join(dir, n)
	}
	unlock, ok, err := cachefs.Open(dir, progress)
	if err != nil {
		return nil, fmt.Errorf("kselftest helpers %w", err)
	}
	defer unlock()
	if ok {
		return out, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return nil, fmt.Errorf("kselftest helpers cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, n := range s.Helpers {
		progress(fmt.Sprintf("build %s (%s -static)", n, cc))
		cmd := pgroup.Command(ctx, cc, "-O2", "-static", "-o", filepath.Join(tmp, n), filepath.Join(s.Dir, n+".c"))
		if b, err := cmd.CombinedOutput(); err != nil {
			msg := strings.TrimSpace(string(b))
			if strings.Contains(msg, "cannot find -lc") || strings.Contains(msg, "stdio.h") {
				libc := "libc6-dev"
				if a.Cross() {
					libc = "libc6-dev-" + a.Deb + "-cross"
				}
				msg += fmt.Sprintf(" (install %s: apt-get install %s)", libc, libc)
			}
			return nil, fmt.Errorf("build the livepatch selftests' %s: %w: %s", n, err, msg)
		}
	}
	if err := cachefs.Commit(tmp, dir, s.Helpers...); err != nil {
		return nil, fmt.Errorf("kselftest helpers %w", err)
	}
	return out, nil
}

// pruned are the parts of the Debian userland the scripts never use
// (documentation, locales, perl, iconv modules): they would only make
// the image larger, and its unpacking slower.
var pruned = []string{"usr/share", "usr/include", "var/cache", "var/lib/apt", "usr/lib/*/perl*", "usr/lib/*/libperl*", "usr/lib/*/gconv", "usr/lib/*/libdb-*", "boot"}

// alternatives are the links update-alternatives would make, as path in
// the root to target.
var alternatives = map[string]string{"usr/bin/awk": "mawk"}

// Userland returns a Debian root filesystem for the guest's arch holding
// UserlandPackages and their dependencies, extracted by mmdebstrap
// (nothing of it runs on the host, so no emulator is needed), merged-/usr
// as Debian 12 is, pruned, and cached.
func Userland(ctx context.Context, a kernels.Arch, cache string, progress func(string)) (string, error) {
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "", &kernels.MissingToolError{Tool: "mmdebstrap", Package: "mmdebstrap", For: "making the livepatch selftests' userland"}
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("klptest-kselftest-userland v2\n%s\n%s\n%s\n%s\n", UserlandSuite, a.Deb, strings.Join(UserlandPackages, ","), strings.Join(pruned, ","))))
	dir := filepath.Join(cache, "kselftest-userland", a.Deb+"-"+hex.EncodeToString(h[:])[:24])
	unlock, ok, err := cachefs.Open(dir, progress)
	if err != nil {
		return "", fmt.Errorf("kselftest userland %w", err)
	}
	defer unlock()
	if ok {
		return filepath.Join(dir, "root"), nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return "", fmt.Errorf("kselftest userland cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	progress(fmt.Sprintf("make the selftests' userland (Debian %s %s: %s) with mmdebstrap", UserlandSuite, a.Deb, strings.Join(UserlandPackages, " ")))
	root := filepath.Join(tmp, "root")
	err = kernels.Mmdebstrap(ctx, UserlandSuite, root, UserlandPackages, "--variant=extract", "--arch="+a.Deb,
		"--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr")
	if err != nil {
		return "", fmt.Errorf("make the selftests' userland: %w", err)
	}
	for _, pat := range pruned {
		ms, _ := filepath.Glob(filepath.Join(root, pat))
		for _, m := range ms {
			os.RemoveAll(m)
		}
	}
	// Extracting runs no maintainer scripts, so update-alternatives never
	// made mawk the awk.
	for link, target := range alternatives {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil && !os.IsExist(err) {
			return "", fmt.Errorf("the selftests' userland: %w", err)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "usr/bin/bash")); err != nil {
		return "", fmt.Errorf("the selftests' userland has no bash: %w", err)
	}
	// The whole tree moves into place; its regular files are sealed.
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(tmp, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("kselftest userland: %w", err)
	}
	sort.Strings(files)
	if err := cachefs.Commit(tmp, dir, files...); err != nil {
		return "", fmt.Errorf("kselftest userland %w", err)
	}
	return filepath.Join(dir, "root"), nil
}
