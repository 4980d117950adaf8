//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klptest/klptest/runner"
)

// Fault tests: the guest or QEMU fails under klptest, and klptest reports
// it, keeps what it had, and leaves no QEMU behind. Kernel: debian:6.1
// amd64.

// runFault runs one fault case in-process and returns its exit status,
// stdout and the result document, after checking that no QEMU outlived it.
func runFault(t *testing.T, args ...string) (int, string, *runner.Result) {
	t.Helper()
	requireQEMU(t)
	before := qemuPids(t)
	doc := filepath.Join(t.TempDir(), "run.json")
	var stdout, stderr bytes.Buffer
	code := Main(append([]string{"run", "--kernel", "debian:6.1", "--json", doc}, args...), &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	for pid := range qemuPids(t) {
		if !before[pid] {
			t.Errorf("QEMU pid %s outlived klptest", pid)
		}
	}
	return code, stdout.String(), readResult(t, doc)
}

// readResult reads a run's --json document; an empty Result when there is
// none (an error is reported).
func readResult(t *testing.T, path string) *runner.Result {
	t.Helper()
	var d struct {
		Result runner.Result `json:"result"`
	}
	if b, err := os.ReadFile(path); err != nil {
		t.Errorf("no result document: %v", err)
	} else if err := json.Unmarshal(b, &d); err != nil {
		t.Errorf("result document: %v", err)
	}
	return &d.Result
}

func wantAll(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// The agent hangs in the kernel (uninterruptibly, in the probe module):
// the VM's timeout fires, the host takes SysRq dumps through the keyboard
// and every vCPU's registers through QEMU's monitor, and kills QEMU.
func TestE2EFaultHang(t *testing.T) {
	t0 := time.Now()
	outDir := filepath.Join(t.TempDir(), "new", "out")
	code, out, res := runFault(t, "--case", "fault-hang", "--timeout", "45s", "--out", outDir)
	// The run dir is made private: consoles and dumps hold guest memory.
	if st, err := os.Stat(outDir); err != nil {
		t.Errorf("--out dir not made: %v", err)
	} else if st.Mode().Perm() != 0o700 {
		t.Errorf("--out dir mode %v, want 0700", st.Mode().Perm())
	}
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	// No hang of klptest's own: the timeout, the forensics' bounded waits.
	if d := time.Since(t0); d > 3*time.Minute {
		t.Errorf("klptest took %v for a 45s timeout", d)
	}
	wantAll(t, "stdout", out,
		"FAIL fault-hang",
		"the VM did not finish within 45s; host forensics: blocked tasks (sysrq-w): uinit[",
		"in klpt_inject_hang+", // the hung agent's stack, in the violation
		"vCPU 0 at ",
		"host forensics (the VM did not finish within 45s):",
	)
	if len(res.Boots) != 1 || res.Boots[0].HostForensics == nil {
		t.Fatalf("no host forensics in the result document")
	}
	h := res.Boots[0].HostForensics
	console := strings.Join(h.Sysrq, "\n")
	wantAll(t, "the console after SysRq", console, "Show Blocked State", "NMI backtrace for cpu", "Show State", "task:uinit")
	if h.Case != "fault-hang" || len(h.CPUs) != 2 {
		t.Errorf("host forensics for case %q with %d vCPUs, want fault-hang and 2", h.Case, len(h.CPUs))
	}
}

// A kernel panic: pvpanic or the console tells, the case FAILs with the
// panic's excerpt, and QEMU is gone.
func TestE2EFaultPanic(t *testing.T) {
	code, out, _ := runFault(t, "--case", "fault-panic", "--timeout", "2m")
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	wantAll(t, "stdout", out, "FAIL fault-panic", "kernel panic:", "Kernel panic - not syncing: klptest: injected panic", "klpt_inject_write+")
}

// The result port breaks: half a line then nothing, or closed early. The
// verdict is a FAIL naming the last event received, never a pass.
func TestE2EFaultResultChannel(t *testing.T) {
	for _, tc := range []struct{ c, want string }{
		{"fault-result-truncated", `result stream broken after event "`},
		{"fault-result-closed", `result stream ended without a done event (last event: "`},
	} {
		t.Run(tc.c, func(t *testing.T) {
			code, out, _ := runFault(t, "--case", tc.c, "--timeout", "2m")
			if code != exitFail {
				t.Fatalf("exit %d, want %d", code, exitFail)
			}
			wantAll(t, "stdout", out, "FAIL "+tc.c, "the result stream broke during the case", tc.want)
		})
	}
}

// QEMU killed from outside mid-case: klptest says so and exits 125 (no
// verdict on the kernel, so bisect skips), with no hang.
func TestE2EFaultQEMUKilled(t *testing.T) {
	requireQEMU(t)
	before := qemuPids(t)
	killed := make(chan string, 1)
	go func() {
		// The first QEMU that appears, once it has had time to boot.
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			for pid := range qemuPids(t) {
				if !before[pid] {
					time.Sleep(15 * time.Second)
					n, _ := strconv.Atoi(pid)
					syscall.Kill(n, syscall.SIGKILL)
					killed <- pid
					return
				}
			}
		}
		close(killed)
	}()
	code, out, res := runFault(t, "--case", "patch", "--case", "reverse-patch", "--case", "signal")
	if pid, ok := <-killed; !ok {
		t.Fatal("no QEMU appeared to kill")
	} else {
		t.Logf("killed QEMU pid %s", pid)
	}
	if code != exitInfra {
		t.Fatalf("exit %d, want %d", code, exitInfra)
	}
	if !strings.Contains(res.Incomplete, "not by klptest or its guest") {
		t.Errorf("result not marked incomplete: %q", res.Incomplete)
	}
	_ = out
}

// descendants lists the live descendants of pid.
func descendants(pid int) map[int]string {
	kids := map[int][]int{}
	comm := map[int]string{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
		pp, _ := strconv.Atoi(f[1])
		kids[pp] = append(kids[pp], p)
		comm[p] = string(b[bytes.IndexByte(b, '(')+1 : i])
	}
	out := map[int]string{}
	var walk func(int)
	walk = func(p int) {
		for _, k := range kids[p] {
			out[k] = comm[k]
			walk(k)
		}
	}
	walk(pid)
	return out
}

// SIGINT or SIGTERM mid-run: klptest kills every QEMU and child it started,
// writes the partial results marked incomplete, and exits 130 or 143.
func TestE2EFaultSignals(t *testing.T) {
	requireQEMU(t)
	bin := buildKlptest(t)
	src, _ := filepath.Abs("../..")
	// A cache of its own, empty: the first runs download and build.
	cache := t.TempDir()
	for _, tc := range []struct {
		name  string
		sig   syscall.Signal
		at    string // progress line after which the signal goes
		delay time.Duration
		code  int
	}{
		{"SIGTERM during download", syscall.SIGTERM, "] kernel    resolve", 3 * time.Second, exitSIGTERM},
		{"SIGINT during module build", syscall.SIGINT, "] modules ", 2 * time.Second, exitSIGINT},
		{"SIGTERM at boot", syscall.SIGTERM, "] boot ", 500 * time.Millisecond, exitSIGTERM},
		{"SIGINT mid-case", syscall.SIGINT, "] case ", 3 * time.Second, exitSIGINT},
		{"SIGTERM mid-case", syscall.SIGTERM, "] case ", 6 * time.Second, exitSIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := filepath.Join(t.TempDir(), "run.json")
			cmd := exec.Command(bin, "run", "--kernel", "debian:6.1", "--case", "patch", "--case", "reverse-patch", "--json", doc)
			cmd.Env = append(os.Environ(), "KLPTEST_SRC="+src, "CI=true", "XDG_CACHE_HOME="+cache)
			var stderr ptyOutput
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Minute)
			for !strings.Contains(stderr.String(), tc.at) {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no %q in stderr:\n%s", tc.at, stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(tc.delay)
			kids := descendants(cmd.Process.Pid)
			if len(kids) == 0 {
				t.Errorf("klptest had no child at the signal")
			}
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatalf("klptest still running a minute after %v", tc.sig)
			}
			t.Logf("children at the signal: %v\nstderr:\n%s", kids, stderr.String())
			if got := cmd.ProcessState.ExitCode(); got != tc.code {
				t.Errorf("exit %d, want %d", got, tc.code)
			}
			for pid, comm := range kids {
				if alive(pid) {
					t.Errorf("child %d (%s) outlived klptest", pid, comm)
				}
			}
			res := readResult(t, doc)
			if res.Incomplete != "interrupted" {
				t.Errorf("result incomplete = %q, want interrupted", res.Incomplete)
			}
			// A case that ended before the signal keeps its verdict.
			judged := map[string]bool{}
			for _, v := range res.Verdicts {
				judged[v.Case] = true
			}
			for _, b := range res.Boots {
				if b.Trace == nil {
					continue
				}
				for _, ct := range b.Trace.Cases {
					if ct.End != nil && !judged[ct.Name] {
						t.Errorf("case %s ended before the signal but has no verdict", ct.Name)
					}
				}
			}
		})
	}
	// The same cache, after the interrupted download and build, gives a
	// verdict: nothing half-written was taken for done.
	t.Run("then a whole run", func(t *testing.T) {
		cmd := exec.Command(bin, "run", "--kernel", "debian:6.1", "--case", "patch")
		cmd.Env = append(os.Environ(), "KLPTEST_SRC="+src, "CI=true", "XDG_CACHE_HOME="+cache)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PASS patch (debian:6.1") {
			t.Errorf("run after the interruptions: %v\n%s", err, out)
		}
	})
}

// alive reports a process still running a moment after its killer exited:
// a SIGKILLed process is a zombie until its new parent reaps it.
func alive(pid int) bool {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && bytes.HasPrefix(b[i+1:], []byte(" Z")) {
			return false
		}
		if time.Now().After(deadline) {
			return true
		}
	}
}

// A read-only or full cache dir: one line with the cause and the fix, exit
// 125, before any download. Needs root, for the tmpfs mounts.
func TestE2EBadCache(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{"ro,size=1m", "cannot be made: read-only file system; set KLPTEST_CACHE"},
		{"size=2m", "MiB free, and a first run needs about 2048 MiB"},
	} {
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", tc.opts, "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs -o %s (the test needs root): %v: %s", tc.opts, err, out)
		}
		t.Setenv("KLPTEST_CACHE", filepath.Join(dir, "cache"))
		var stdout, stderr bytes.Buffer
		code := Main([]string{"run", "--kernel", "debian:6.1", "--case", "patch"}, &stdout, &stderr)
		exec.Command("umount", dir).Run()
		var lines []string
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.HasPrefix(l, "klptest: ") {
				lines = append(lines, l)
			}
		}
		if code != exitInfra || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("cache on tmpfs -o %s: exit %d, stderr %q; want 125 and one line with %q", tc.opts, code, stderr.String(), tc.want)
		}
	}
}

// Hostile names (spaces, ;, $(), ../) in kernel specs and case names are
// data, never shell: each is refused with its own message, and nothing
// they spell runs. Needs the Debian mirror for the version row.
func TestE2EHostileNames(t *testing.T) {
	requireQEMU(t)
	src, _ := filepath.Abs("../..")
	t.Setenv("KLPTEST_SRC", src)
	dir := t.TempDir()
	t.Chdir(dir) // where a stray "touch PWNED" would land
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--kernel", "tree:/tmp/a b;$(touch PWNED)"}, exitInfra, "is not a built kernel tree"},
		{[]string{"--kernel", "debian:6.1;touch PWNED"}, exitInfra, "is not MAJOR.MINOR"},
		{[]string{"--kernel", "debian:6.1@$(touch PWNED)"}, exitInfra, "Debian serves no amd64 kernel $(touch PWNED)"},
		{[]string{"--kernel", "debian:../6.1"}, exitInfra, "is not MAJOR.MINOR"},
		{[]string{"--kernel", "src:$(touch PWNED)"}, exitInfra, "is not a kernel source tree"},
		{[]string{"--kernel", "src:../../.."}, exitInfra, "is not a kernel source tree"},
		{[]string{"--case", "$(touch PWNED)"}, exitUsage, `unknown case "$(touch PWNED)"`},
		{[]string{"--case", "../patch"}, exitUsage, `unknown case "../patch"`},
		{[]string{"--out", filepath.Join(dir, "a b;$(touch PWNED)"), "--kernel", "tree:/nonexistent"}, exitInfra, "is not a built kernel tree"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"run"}, tc.args...), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run %q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
	for _, d := range []string{dir, "/tmp", "/"} {
		if _, err := os.Stat(filepath.Join(d, "PWNED")); err == nil {
			t.Errorf("%s/PWNED exists: a name reached a shell", d)
		}
	}
}

// Bad input that needs Debian's package lists: one line with the cause and
// the fix, exit 125, no stack trace. (TestUsage has the rows that need
// nothing; TestE2ENoLivepatch, TestE2EBadCache and TestE2EHostileNames
// theirs.)
func TestE2EBadInput(t *testing.T) {
	requireQEMU(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kernel", "debian:5.10"}, "Debian serves no amd64 kernel of series 5.10"},
		{[]string{"--kernel", "debian:6.1@6.1.0-1"}, "Debian serves no amd64 kernel 6.1.0-1 of series 6.1; it serves: 6.1.0-"},
		{[]string{"--kernel", "debian:6.1", "--arch", "arm64"}, "its config lacks CONFIG_LIVEPATCH=y"}, // Debian arm64
	} {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"run", "--case", "patch"}, tc.args...), &stdout, &stderr)
		var lines []string
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.HasPrefix(l, "klptest: ") {
				lines = append(lines, l)
			}
		}
		if code != exitInfra || len(lines) != 1 || !strings.Contains(lines[0], tc.want) || strings.Contains(stderr.String(), "goroutine ") {
			t.Errorf("run %q: exit %d, stderr:\n%s\nwant 125 and one line with %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
