// Package kmod owns klptest's GPL-2.0 test modules (the C sources in src/,
// embedded in the binary) and their build: Kbuild against a kernel's module
// build dir, cached per kernel and source hash. Which modules there are is
// kmod/table's: the Kbuild is generated from it for each build, and the
// tests hold the C sources' per-module #defines to it.
//
//   - klpt_target.ko: the functions to patch, reached through /dev/klpt_target,
//     its parked and spinning kernel threads, and its twins klpt_target2.ko
//     and klpt_target3.ko;
//   - klpt_patch.ko: the livepatch of the targets and of vmlinux's
//     cmdline_proc_show() and proc_flush_pid() (which an exiting thread
//     calls off the task list, and in which the exits case's threads
//     sleep); klpt_patch2.ko replaces it atomically,
//     klpt_patch3.ko stacks on it, klpt_patch4.ko replaces it leaving some
//     functions out (the kernel's nops);
//   - klpt_probe.ko: /proc/klpt_tasks, one snapshot of every task's patch
//     state and TIF_PATCH_PENDING, idle tasks included; /proc/klpt_forks,
//     every fork's inherited state, beside what fork had copied before;
//     /proc/klpt_switches, every attempt of the kernel's to switch an idle
//     task or a task the targets register with it (one inside a chain
//     call, the spinning kthread: so it loads first), and every run of the
//     scheduler's switch point in a registered task; /proc/klpt_exits,
//     the exits case's threads' calls of a livepatch's proc_flush_pid().
package kmod

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing/fstest"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/pgroup"
)

//go:embed src
var sources embed.FS

// Build returns the built .ko paths for kernel k (in table.Modules order),
// building them only when the cache has no sound build of the same sources
// for k. notice, if set, hears of a corrupt entry being rebuilt.
func Build(ctx context.Context, k *kernels.Spec, cacheDir string, notice func(string)) ([]string, bool, error) {
	return BuildExternal(ctx, k, cacheDir, "kmod", tree(table.Modules), table.Names(), notice)
}

// BuildExternal builds the out-of-tree modules whose Kbuild sources are
// src (the kernel's own selftest modules, or klptest's) against kernel k,
// into the cache under kind: the same compiler, toolchain root and make
// variables as klptest's modules, cached by k and the sources' content. It
// returns the .ko paths in the order of modules.
func BuildExternal(ctx context.Context, k *kernels.Spec, cacheDir, kind string, src fs.FS, modules []string, notice func(string)) ([]string, bool, error) {
	key, err := key(k, src)
	if err != nil {
		return nil, false, err
	}
	dir := filepath.Join(cacheDir, kind, k.Release+"-"+key[:24])
	kos := make([]string, len(modules))
	names := make([]string, len(modules))
	for i, m := range modules {
		kos[i] = filepath.Join(dir, m+".ko")
		names[i] = m + ".ko"
	}
	unlock, ok, err := cachefs.Open(dir, notice)
	if err != nil {
		return nil, false, fmt.Errorf("%s %w", kind, err)
	}
	defer unlock()
	if ok {
		return kos, false, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return nil, false, fmt.Errorf("%s cache: %w", kind, err)
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "src")
	if err := os.CopyFS(work, src); err != nil {
		return nil, false, fmt.Errorf("%s sources: %w", kind, err)
	}
	cmd, err := makeCommand(ctx, k, tmp, append(append([]string{"make", "-C", k.BuildDir, "M=" + work, "-j2"}, k.MakeVars...), "modules"))
	if err != nil {
		return nil, false, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, false, &BuildError{Kernel: k.Release, Err: err, Output: out.String()}
	}
	for _, m := range modules {
		if err := os.Rename(filepath.Join(work, m+".ko"), filepath.Join(tmp, m+".ko")); err != nil {
			return nil, false, fmt.Errorf("%s build for %s: %w", kind, k.Release, err)
		}
	}
	os.RemoveAll(work)
	if err := cachefs.Commit(tmp, dir, names...); err != nil {
		return nil, false, fmt.Errorf("%s %w", kind, err)
	}
	return kos, true, nil
}

// makeCommand runs argv on the host, or, for a kernel whose compiler only
// its toolchain root has, inside that root under bubblewrap: the kernel's
// cache entry read-only and the build dir work at their own paths, so that
// the paths in the headers and in make's output stay the host's.
func makeCommand(ctx context.Context, k *kernels.Spec, work string, argv []string) (*exec.Cmd, error) {
	if k.Toolchain == "" {
		return pgroup.Command(ctx, argv[0], argv[1:]...), nil
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		return nil, &kernels.MissingToolError{Tool: "bwrap", Package: "bubblewrap", For: "building modules in the " + k.CC + " toolchain root"}
	}
	return pgroup.Command(ctx, "bwrap", bwrapArgs(k, work, argv)...), nil
}

// bwrapArgs runs argv in k's toolchain root. Order matters: bwrap mounts in
// argument order, so the fresh /tmp comes before the binds, which may lie
// under /tmp themselves (a cache in $XDG_CACHE_HOME=/tmp/...) and would
// otherwise be hidden by it.
func bwrapArgs(k *kernels.Spec, work string, argv []string) []string {
	bw := []string{"--bind", k.Toolchain, "/",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
		"--ro-bind", k.Root, k.Root,
		"--bind", work, work,
		"--unshare-net", "--die-with-parent", "--chdir", work,
		"--setenv", "PATH", "/usr/bin:/bin", "--"}
	return append(bw, argv...)
}

// BuildError is a failed module build; its message holds the compiler's
// first error lines.
type BuildError struct {
	Kernel string
	Err    error
	Output string
}

func (e *BuildError) Error() string {
	// The compiler's and modpost's own lines, not make's echoes of them.
	var first, makeLines []string
	for _, l := range strings.Split(e.Output, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "make"):
			makeLines = append(makeLines, l)
		case errorLine.MatchString(l) && len(first) < 5:
			first = append(first, l)
		}
	}
	if len(first) == 0 {
		first = makeLines
	}
	if len(first) == 0 {
		first = []string{strings.TrimSpace(e.Output)}
	}
	return fmt.Sprintf("build test modules for %s: %v:\n  %s", e.Kernel, e.Err, strings.Join(first, "\n  "))
}

var errorLine = regexp.MustCompile(`(?i)\berror\b|undefined|not found`)

// tree is the source tree make builds: the embedded sources and the Kbuild
// for mods. The key hashes this tree, so a change of the table is a change
// of the sources.
func tree(mods []table.Module) fs.FS {
	t := fstest.MapFS{"Kbuild": {Data: kbuild(mods), Mode: 0o644}}
	err := fs.WalkDir(sources, "src", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sources.ReadFile(p)
		t[strings.TrimPrefix(p, "src/")] = &fstest.MapFile{Data: b, Mode: 0o644}
		return err
	})
	if err != nil {
		panic(err) // the embedded tree is in memory: reading it cannot fail
	}
	return t
}

// kbuildKinds is the order of Kbuild's lines, one for each kind; modules of
// a kind it lacks come last, on a line of their own.
var kbuildKinds = []table.Kind{table.Target, table.Livepatch, table.Probe}

// kbuild is the Kbuild that builds mods, each from its own .c file.
func kbuild(mods []table.Module) []byte {
	var b bytes.Buffer
	b.WriteString("# SPDX-License-Identifier: GPL-2.0\n# klptest's test modules, built out of tree against a kernel's build dir.\n")
	line := func(objs []string) {
		if len(objs) > 0 {
			fmt.Fprintf(&b, "obj-m += %s\n", strings.Join(objs, " "))
		}
	}
	var rest []string
	for _, m := range mods {
		if !slices.Contains(kbuildKinds, m.Kind) {
			rest = append(rest, m.Name+".o")
		}
	}
	for _, k := range kbuildKinds {
		var objs []string
		for _, m := range mods {
			if m.Kind == k {
				objs = append(objs, m.Name+".o")
			}
		}
		line(objs)
	}
	line(rest)
	return b.Bytes()
}

// key hashes the module sources and the kernel they build against.
func key(k *kernels.Spec, src fs.FS) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "klptest-kmod v2\n%s\n%s\n%s\n%s\n%s\n%s\n", k.Root, k.Release, k.CC, k.BuildID, strings.Join(k.MakeVars, " "), k.Toolchain)
	var names []string
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("module sources: %w", err)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := fs.ReadFile(src, n)
		if err != nil {
			return "", err
		}
		// "src/" as before the sources were given as a tree: klptest's
		// modules keep their cache entries.
		fmt.Fprintf(h, "src/%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
