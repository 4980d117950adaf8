//go:build e2e

// End-to-end tests of kernels built from source. Kernel: Debian's
// linux-source-7.2 (sid), made into a git history with one planted
// transition bug, built for arm64 with gcc-aarch64-linux-gnu (or for
// KLPTEST_E2E_SRC_ARCH); every run boots it under QEMU.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/klptest/klptest/bisect"
	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/mutants"
	"github.com/klptest/klptest/report"
	"github.com/klptest/klptest/rule"
)

// plantedHistory is the history made on top of the pristine tree: harmless
// commits around one that breaks klp_start_transition(): with == for !=,
// no task is marked TIF_PATCH_PENDING, so a task that cannot switch at once
// sits in the old state with no flag set: the pending-flag rule. The
// reverse-patch case catches it every time: its parked task holds the
// transition open, unswitched, for seconds (the patch case only when some
// task happens to be running at the first attempt to switch it).
var plantedHistory = []struct {
	subject, file, old, new string
	planted                 bool
}{
	{subject: "Documentation: livepatch: note the one-second retry", file: "Documentation/livepatch/livepatch.rst",
		old: "Livepatch\n=========\n", new: "Livepatch\n=========\n\n.. The transition is retried about once a second.\n"},
	{subject: "livepatch: comment the order of klp_init_transition()", file: "kernel/livepatch/transition.c",
		old: "void klp_init_transition(struct klp_patch *patch, int state)\n{\n", new: "void klp_init_transition(struct klp_patch *patch, int state)\n{\n\t/* Tasks first, then functions: see the barrier below. */\n"},
	{subject: "livepatch: core: spell out a comment", file: "kernel/livepatch/core.c",
		old: "#include <linux/livepatch.h>\n", new: "#include <linux/livepatch.h>\n/* The core of kernel live patching. */\n"},
	{subject: "livepatch: transition: tidy task marking in klp_start_transition()", file: "kernel/livepatch/transition.c", planted: true,
		old: "\tfor_each_process_thread(g, task)\n\t\tif (task->patch_state != klp_target_state)\n",
		new: "\tfor_each_process_thread(g, task)\n\t\tif (task->patch_state == klp_target_state)\n"},
	{subject: "livepatch: patch: comment klp_ftrace_handler()", file: "kernel/livepatch/patch.c",
		old: "#include <linux/livepatch.h>\n", new: "#include <linux/livepatch.h>\n/* ftrace redirects patched functions here. */\n"},
	{subject: "Documentation: livepatch: one more note", file: "Documentation/livepatch/livepatch.rst",
		old: "Livepatch\n=========\n", new: "Livepatch\n=========\n\n.. Reverse transitions flip every pending flag.\n"},
	{subject: "samples: livepatch: comment the sample", file: "samples/livepatch/livepatch-sample.c",
		old: "#include <linux/livepatch.h>\n", new: "#include <linux/livepatch.h>\n/* The simplest livepatch. */\n"},
}

// plantedRepo makes (once per cache) a git repository of linux-source-7.2
// with plantedHistory on branch main, and returns it with its base commit
// and the planted one.
func plantedRepo(t *testing.T, cache string) (repo, base, planted string) {
	t.Helper()
	src, id, err := (&kernels.Debian{Cache: cache, Progress: t.Logf}).Source(context.Background(), "7.2", "")
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%x", sha(id+fmt.Sprint(plantedHistory)))[:12]
	repo = filepath.Join(cache, "e2e", "bisect-7.2-"+key)
	git := func(dir string, args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=klptest", "-c", "user.email=klptest@example.org"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	marker := filepath.Join(repo, ".git", "klptest-e2e")
	if b, err := os.ReadFile(marker); err == nil {
		f := strings.Fields(string(b))
		git(repo, "checkout", "-q", "main")
		return repo, f[0], f[1]
	}
	tmp := repo + ".part"
	os.RemoveAll(tmp)
	os.MkdirAll(filepath.Dir(tmp), 0o755)
	// Hard links: the tree is 1.8 GB. Git replaces a file it checks out
	// rather than writing into it, and edit below does too, so the
	// cached source tree is never changed through a link.
	if out, err := exec.Command("cp", "-al", src, tmp).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", src, err, out)
	}
	t.Logf("making a git history of %s in %s", src, tmp)
	git(tmp, "init", "-q", "-b", "main")
	// -f: Debian's linux-source .gitignore ignores the whole top level.
	git(tmp, "add", "-A", "-f")
	git(tmp, "commit", "-q", "-m", "base: Debian linux-source-7.2")
	base = git(tmp, "rev-parse", "HEAD")
	for _, c := range plantedHistory {
		edit(t, filepath.Join(tmp, c.file), c.old, c.new)
		git(tmp, "commit", "-q", "-a", "-m", c.subject)
		if c.planted {
			planted = git(tmp, "rev-parse", "HEAD")
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".git", "klptest-e2e"), []byte(base+" "+planted+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, repo); err != nil {
		t.Fatal(err)
	}
	return repo, base, planted
}

// edit replaces old with new in file, by writing a new file: never through
// a hard link.
func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	b = bytes.Replace(b, []byte(old), []byte(new), 1)
	if err := os.WriteFile(file+".new", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
}

// srcArch is the arch the source-kernel tests build for: arm64 by default,
// the arch Debian's own kernels cannot cover.
func srcArch() string {
	if a := os.Getenv("KLPTEST_E2E_SRC_ARCH"); a != "" {
		return a
	}
	return "arm64"
}

// TestE2ESourceKernel runs the whole suite on the base commit, pristine
// linux-source-7.2, then bisects to the planted commit. Both use one build
// dir (keyed by the source tree's path), so the bisection's builds are
// incremental from the suite's: one cold kernel build, not two.
func TestE2ESourceKernel(t *testing.T) {
	arch := srcArch()
	requireQEMU(t, arch)
	cache, err := kernels.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	repo, base, planted := plantedRepo(t, cache)
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	t.Run("suite", func(t *testing.T) {
		git("checkout", "-q", "--detach", base)
		defer git("checkout", "-q", "main")
		var stdout, stderr bytes.Buffer
		code := Main([]string{"run", "--kernel", "src:" + repo, "--arch", arch}, &stdout, &stderr)
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		if code != exitPass {
			t.Fatalf("klptest run --kernel src:%s --arch %s: exit %d", repo, arch, code)
		}
		for _, c := range cases.All() {
			if !strings.Contains(stdout.String(), "PASS "+c.Name+" (src:") {
				t.Errorf("no PASS line for case %s", c.Name)
			}
		}
	})

	// A splat in a kernel built with debug info: the kernel-log violation
	// quotes it and decodes its addresses into file:line, in the module
	// that warned too.
	t.Run("decoded-splat", func(t *testing.T) {
		git("checkout", "-q", "--detach", base)
		defer git("checkout", "-q", "main")
		var stdout, stderr bytes.Buffer
		code := Main([]string{"run", "--kernel", "src:" + repo, "--arch", arch, "--case", "demo-warn"}, &stdout, &stderr)
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		if code != exitFail {
			t.Fatalf("exit %d, want %d", code, exitFail)
		}
		out := stdout.String()
		for _, want := range []string{"[kernel-log]", "WARNING: ", "decoded (scripts/decode_stacktrace.sh):", "klpt_probe.c:"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}
		// The excerpt reaches the call trace, past the register dump, and
		// the decoded trace names the writer's path through the kernel.
		if !strings.Contains(strings.ToLower(out), "call trace:") || !strings.Contains(out, "klpt_inject_write (") {
			t.Errorf("the excerpt lacks the decoded call trace")
		}
	})

	// A planted unsafe-switch bug, through klptest mutants: with
	// klp_check_stack_func() matching no stack entry, the tasks asleep and
	// preempted inside chains are switched there, and one asleep in a
	// chain's outer function wakes into the other set. unsafe-switch and
	// chain-consistency must name it; the tree comes back as it was.
	t.Run("mutant-unsafe-switch", func(t *testing.T) {
		git("checkout", "-q", "--detach", base)
		defer git("checkout", "-q", "main")
		out := filepath.Join(t.TempDir(), "mutants.json")
		var stdout, stderr bytes.Buffer
		code := Main([]string{"mutants", "--src", repo, "--arch", arch, "--only", "tr-stack-func-skip", "--case", "chain", "--json", out}, &stdout, &stderr)
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		if code != exitPass {
			t.Fatalf("klptest mutants: exit %d, want %d (the mutant killed by a named rule)", code, exitPass)
		}
		var rep mutants.Report
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Baseline.Kind != mutants.Survived {
			t.Errorf("the pristine tree: %s, want it to pass", rep.Baseline.Kind)
		}
		if len(rep.Mutants) != 1 || rep.Mutants[0].Kind != mutants.Killed || !slices.Contains(rep.Mutants[0].Rules, rule.Unsafe) || !slices.Contains(rep.Mutants[0].Rules, rule.Chain) {
			t.Errorf("outcomes %+v; want tr-stack-func-skip killed by %s and %s", rep.Mutants, rule.Unsafe, rule.Chain)
		}
		if st := git("status", "--porcelain"); st != "" {
			t.Errorf("the tree was not restored: %s", st)
		}
	})

	// The agent hangs: arm64 virt has no keyboard for SysRq, so the host's
	// evidence is where each vCPU was, named with the build's System.map
	// and the KASLR base the agent reported.
	t.Run("hang", func(t *testing.T) {
		git("checkout", "-q", "--detach", base)
		defer git("checkout", "-q", "main")
		var stdout, stderr bytes.Buffer
		code := Main([]string{"run", "--kernel", "src:" + repo, "--arch", arch, "--case", "fault-hang", "--timeout", "60s"}, &stdout, &stderr)
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		if code != exitFail {
			t.Fatalf("exit %d, want %d", code, exitFail)
		}
		// Some sample of some vCPU is in the kernel (one sample alone
		// can catch a vCPU in user space: CI saw vCPU 0 there).
		if !regexp.MustCompile(`vCPU [0-9]+: PC [0-9a-f]+ .*\b[A-Za-z_][A-Za-z0-9_.]*\+0x[0-9a-f]+`).MatchString(stdout.String()) {
			t.Errorf("no vCPU named by symbol")
		}
		if arch == "arm64" && !strings.Contains(stdout.String(), "arm64 guests have no keyboard") {
			t.Errorf("no word on why there is no SysRq dump")
		}
	})

	t.Run("bisect", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "bisect.json")
		var stdout, stderr bytes.Buffer
		code := Main([]string{"bisect", "--src", repo, "--good", base, "--bad", "main", "--case", "reverse-patch", "--arch", arch, "--json", out}, &stdout, &stderr)
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		if code != exitPass {
			t.Fatalf("klptest bisect: exit %d", code)
		}
		var doc struct {
			Result bisect.Result `json:"result"`
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Result.FirstBad != planted {
			t.Errorf("first bad commit %s, want the planted %s", doc.Result.FirstBad, planted)
		}
		if !strings.HasPrefix(doc.Result.Detail, "case reverse-patch failed (") || !strings.Contains(report.FirstLine(doc.Result.Detail), "pending-flag") {
			t.Errorf("detail %q: want the reverse-patch failure with the pending-flag rule that marked it", doc.Result.Detail)
		}
		if !strings.Contains(stdout.String(), "first bad commit: "+planted) {
			t.Errorf("stdout does not name the first bad commit")
		}
		for _, s := range doc.Result.Steps {
			if s.Verdict == "skip" {
				t.Errorf("step %s skipped: %s", s.Commit, s.Detail)
			}
		}
		if head, status := git("symbolic-ref", "--short", "HEAD"), git("status", "--porcelain"); head != "main" || status != "" {
			t.Errorf("repository not left as found: HEAD %q, status %q", head, status)
		}
	})

	t.Run("dirty tree", func(t *testing.T) {
		// Refused, with the fix, before anything is built.
		edit(t, filepath.Join(repo, "kernel/livepatch/core.c"), "/* The core of kernel live patching. */\n", "")
		defer git("checkout", "-q", "kernel/livepatch/core.c")
		var stdout, stderr bytes.Buffer
		code := Main([]string{"bisect", "--src", repo, "--good", base, "--bad", "main", "--arch", arch}, &stdout, &stderr)
		if code != exitInfra || !strings.Contains(stderr.String(), "uncommitted changes") || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
			t.Errorf("dirty tree: exit %d, stderr %q; want 125 and one line", code, stderr.String())
		}
	})
}

func sha(s string) [32]byte { return sha256.Sum256([]byte(s)) }
