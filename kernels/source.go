package kernels

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klptest/klptest/cachefs"

	"github.com/klptest/klptest/pgroup"
)

// Source builds livepatch-capable kernels from source: src:PATH (a kernel
// source tree, git or not) and src:debian:SERIES (Debian's linux-source
// package). The config is tinyconfig plus klptest's fragments, merged by the
// kernel's own merge_config.sh; the build goes to an O= dir of its own per
// source location, arch and fragments, so that rebuilding after a change
// (a bisect step) is incremental, and a tree already built in its current
// state is not built again.
type Source struct {
	Cache    string
	Progress func(format string, args ...any) // optional
	// Fragments are extra config fragments after the standard ones: names
	// of klptest's (e.g. "debug") or paths of files.
	Fragments []string
	Jobs      int // make -j; 0 = the number of CPUs
}

func (s *Source) progress(format string, args ...any) {
	if s.Progress != nil {
		s.Progress(format, args...)
	}
}

// buildTools are the host programs a kernel build needs besides a
// compiler, with the Debian packages that have them.
var buildTools = []struct{ cmd, pkg string }{
	{"make", "make"}, {"flex", "flex"}, {"bison", "bison"}, {"bc", "bc"}, {"gcc", "gcc"}, {"perl", "perl"},
}

// Build builds (or finds already built) the kernel ref names for arch.
func (s *Source) Build(ctx context.Context, ref Ref, arch string) (*Spec, error) {
	a, err := LookupArch(arch)
	if err != nil {
		return nil, err
	}
	for _, t := range buildTools {
		if _, err := exec.LookPath(t.cmd); err != nil {
			return nil, &MissingToolError{Tool: t.cmd, Package: t.pkg, For: "building " + ref.String()}
		}
	}
	if err := a.CheckCompiler(); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	frags, err := s.fragments(a)
	if err != nil {
		return nil, err
	}
	var src, where, state string
	if ref.Series != "" {
		d := &Debian{Cache: s.Cache, Progress: s.Progress}
		src, where, err = d.Source(ctx, ref.Series, "")
		if err != nil {
			return nil, err
		}
		state = where // a package version is immutable
	} else {
		if src, err = filepath.Abs(ref.Path); err != nil {
			return nil, err
		}
		if err := CheckSourceTree(src, ref.String()); err != nil {
			return nil, err
		}
		where = src
		if state, err = TreeState(ctx, src); err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
	}

	// One build dir per source location, arch and the fragments asked for
	// beyond the standard ones: a new commit, or a change to the standard
	// fragments, rebuilds in it incrementally; a debug build keeps its own.
	h := sha256.New()
	fmt.Fprintf(h, "klptest-src v1\n%s\n%s\n", where, a.Name)
	fh := sha256.New()
	for i, f := range frags {
		fmt.Fprintf(fh, "%s\n%s\n", f.Name, f.Text)
		if i >= len(StandardFragments(a.Name)) {
			fmt.Fprintf(h, "%s\n%s\n", f.Name, f.Text)
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(s.Cache, "build", a.Name+"-"+key)
	fragKey := hex.EncodeToString(fh.Sum(nil))[:16]
	if state != "" {
		state += " fragments " + fragKey
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("build dir: %w", err)
	}
	unlock, err := lock(out + ".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()

	stamp := filepath.Join(out, "klptest-built")
	if b, err := os.ReadFile(stamp); err == nil && state != "" && string(b) == state {
		if spec, err := s.spec(ref, out, a, state); err == nil {
			s.progress("%s: built already (%s)", ref, out)
			cachefs.Touch(out) // used: prune keeps it
			return spec, nil
		}
	}
	os.Remove(stamp)
	mk := &makeRun{src: src, out: out, vars: a.MakeVars(), jobs: s.Jobs, progress: s.progress, name: ref.String()}
	// Configuring takes half a minute (kconfig probes the compiler), so it
	// runs only when the fragments changed. A new commit's Kconfig changes
	// reach the config anyway: kbuild re-syncs it, and it is verified below.
	configured := filepath.Join(out, "klptest-configured")
	cfgKey := fragKey + " " + strings.Join(mk.vars, " ")
	if b, err := os.ReadFile(configured); err != nil || string(b) != cfgKey {
		os.Remove(configured)
		if err := s.configure(ctx, mk, a, frags); err != nil {
			return nil, err
		}
		atomicWrite(configured, []byte(cfgKey))
	}
	start := time.Now()
	s.progress("%s: building %s for %s in %s (log: %s)", ref, a.ImageTarget, a.Name, out, mk.logPath())
	if err := mk.run(ctx, true, a.ImageTarget, "modules"); err != nil {
		return nil, err
	}
	s.progress("%s: built in %s", ref, time.Since(start).Round(time.Second))
	cfg, err := ReadConfig(filepath.Join(out, ".config"))
	if err != nil {
		return nil, err
	}
	if err := VerifyConfig(frags, cfg, a.Name); err != nil {
		os.Remove(configured)
		return nil, err
	}
	spec, err := s.spec(ref, out, a, state)
	if err != nil {
		return nil, err
	}
	if state != "" {
		atomicWrite(stamp, []byte(state))
	}
	return spec, nil
}

// spec describes the build in out as a kernel to test.
func (s *Source) spec(ref Ref, out string, a Arch, state string) (*Spec, error) {
	spec, err := Tree(out, a.Name)
	if err != nil {
		return nil, err
	}
	spec.Name = ref.String()
	if state != "" {
		spec.BuildID = state + " " + spec.BuildID
	}
	return spec, nil
}

// configure writes out/.config: tinyconfig, the fragments merged on it,
// olddefconfig; then checks that every option asked for survived.
func (s *Source) configure(ctx context.Context, mk *makeRun, a Arch, frags []Fragment) error {
	s.progress("%s: configuring for %s: tinyconfig + %s", mk.name, a.Name, fragmentNames(frags))
	if err := mk.run(ctx, false, "tinyconfig"); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "klptest-frag-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"-m", "-O", mk.out, filepath.Join(mk.out, ".config")}
	for i, f := range frags {
		p := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, filepath.Base(f.Name)))
		if err := os.WriteFile(p, []byte(f.Text), 0o644); err != nil {
			return err
		}
		args = append(args, p)
	}
	cmd := pgroup.Command(ctx, filepath.Join(mk.src, "scripts/kconfig/merge_config.sh"), args...)
	cmd.Dir = mk.src
	cmd.Env = append(os.Environ(), mk.vars...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: merge_config.sh: %w: %s", mk.name, err, lastLines(string(out), 5))
	}
	if err := mk.run(ctx, false, "olddefconfig"); err != nil {
		return err
	}
	cfg, err := ReadConfig(filepath.Join(mk.out, ".config"))
	if err != nil {
		return err
	}
	return VerifyConfig(frags, cfg, a.Name)
}

// makeRun runs make on one source tree and build dir.
type makeRun struct {
	src, out, name string
	vars           []string
	jobs           int
	progress       func(format string, args ...any)
}

func (m *makeRun) logPath() string { return filepath.Join(m.out, "klptest-build.log") }

// run runs make with targets. A long build (report) says every little
// while how far it got, since it takes minutes; its whole output goes to
// the build log, and a failure quotes the compiler's errors from it.
func (m *makeRun) run(ctx context.Context, report bool, targets ...string) error {
	jobs := m.jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	args := append([]string{"-C", m.src, "O=" + m.out, fmt.Sprintf("-j%d", jobs)}, m.vars...)
	args = append(args, targets...)
	log, err := os.OpenFile(m.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	fmt.Fprintf(log, "\n$ make %s\n", strings.Join(args, " "))
	cmd := pgroup.Command(ctx, "make", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "KBUILD_BUILD_TIMESTAMP=klptest", "KBUILD_BUILD_USER=klptest", "KBUILD_BUILD_HOST=klptest")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail tailLines
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.follow(pr, log, &tail, report, strings.Join(targets, " "))
	}()
	err = cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &BuildError{Kernel: m.name, Target: strings.Join(targets, " "), Log: m.logPath(), Errors: tail.errors()}
	}
	return nil
}

// follow copies make's output to the log, keeps what a failure quotes, and
// reports progress every 15 s.
func (m *makeRun) follow(r io.Reader, log io.Writer, tail *tailLines, report bool, what string) {
	start := time.Now()
	last := start
	steps := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		fmt.Fprintln(log, l)
		tail.add(l)
		if strings.HasPrefix(l, "  ") {
			steps++
		}
		if report && time.Since(last) >= 15*time.Second {
			last = time.Now()
			m.progress("%s: make %s: %s, %d steps, at %s", m.name, what, time.Since(start).Round(time.Second), steps, strings.TrimSpace(l))
		}
	}
	io.Copy(io.Discard, r)
}

// tailLines keeps a build's error lines (the first few) and its last lines.
type tailLines struct {
	errs, last []string
}

func (t *tailLines) add(l string) {
	if len(t.errs) < 8 && (strings.Contains(l, "error:") || strings.Contains(l, "Error ") || strings.HasPrefix(l, "***")) {
		t.errs = append(t.errs, strings.TrimSpace(l))
	}
	t.last = append(t.last, l)
	if len(t.last) > 6 {
		t.last = t.last[1:]
	}
}

func (t *tailLines) errors() []string {
	if len(t.errs) > 0 {
		return t.errs
	}
	return t.last
}

// BuildError is a failed kernel build or configuration step.
type BuildError struct {
	Kernel, Target, Log string
	Errors              []string
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("%s: make %s failed (whole log: %s):\n  %s", e.Kernel, e.Target, e.Log, strings.Join(e.Errors, "\n  "))
}

// CheckSourceTree checks that dir is a kernel source tree klptest can build
// out of tree: the kernel refuses O= builds of a tree configured in place.
func CheckSourceTree(dir, name string) error {
	for _, p := range []string{"Makefile", "Kconfig", "scripts/kconfig/merge_config.sh"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("%s is not a kernel source tree (no %s): point src: at the top of one", name, p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "kernel/livepatch")); err != nil {
		return fmt.Errorf("%s has no kernel/livepatch: it is too old for livepatch (before 4.0)", name)
	}
	for _, p := range []string{".config", "include/config/auto.conf"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			return fmt.Errorf("%s is configured in place (it has %s), and kbuild refuses to build such a tree out of tree: run make mrproper in it, or test its own build with tree:%s", name, p, dir)
		}
	}
	return nil
}

// TreeState names the state of a source tree's files: its git commit, plus
// a digest of local changes when the work tree is dirty; outside git, a
// digest of every file's name, size and mtime.
func TreeState(ctx context.Context, dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		head, err := git(ctx, dir, "rev-parse", "HEAD")
		if err != nil {
			return "", err
		}
		status, err := git(ctx, dir, "status", "--porcelain", "--untracked-files=all")
		if err != nil {
			return "", err
		}
		if status == "" {
			return "git " + head, nil
		}
		diff, err := git(ctx, dir, "diff", "HEAD", "--binary")
		if err != nil {
			return "", err
		}
		h := sha256.New()
		io.WriteString(h, diff)
		for _, l := range strings.Split(status, "\n") {
			if p, ok := strings.CutPrefix(l, "?? "); ok {
				if b, err := os.ReadFile(filepath.Join(dir, p)); err == nil {
					fmt.Fprintf(h, "%s\n%x\n", p, sha256.Sum256(b))
				}
			}
		}
		return "git " + head + " dirty " + hex.EncodeToString(h.Sum(nil))[:16], nil
	}
	h := sha256.New()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %d %d", strings.TrimPrefix(p, dir), st.Size(), st.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read tree: %w", err)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(h, l)
	}
	return "files " + hex.EncodeToString(h.Sum(nil))[:16], nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := pgroup.Command(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
