//go:build e2e

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// qemuPids lists the QEMU processes running now.
func qemuPids(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		if b, err := os.ReadFile(c); err == nil && strings.HasPrefix(string(b), "qemu-system") {
			out[filepath.Base(filepath.Dir(c))] = true
		}
	}
	return out
}

// ptyOutput collects what a pty says and waits for text in it.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyOutput) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *ptyOutput) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *ptyOutput) waitFor(t *testing.T, text string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal after %v; it shows:\n%s", text, within, p.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *ptyOutput) waitForRE(t *testing.T, re *regexp.Regexp, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !re.MatchString(strings.ReplaceAll(p.String(), "\r", "")) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing matching %s on the terminal after %v; it shows:\n%s", re, within, p.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForAfter waits for text to show after the last anchor shown: the
// shell's prompt after a command's output, say.
func (p *ptyOutput) waitForAfter(t *testing.T, anchor, text string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := p.String()
		if i := strings.LastIndex(s, anchor); i >= 0 && strings.Contains(s[i+len(anchor):], text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %q on the terminal after %v; it shows:\n%s", text, anchor, within, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shellPrompt is gosh's prompt (its liner line editor, initramfs.BuildTags).
const shellPrompt = "$ "

// startInPty builds klptest and starts it with args on a fresh pty; it
// returns the terminal, what it shows, and the exit status's channel.
func startInPty(t *testing.T, args ...string) (*os.File, *ptyOutput, *exec.Cmd, chan error) {
	t.Helper()
	bin := buildKlptest(t)
	src, _ := filepath.Abs("../..")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KLPTEST_SRC="+src)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	out := &ptyOutput{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
		tty.Close()
		t.Logf("terminal:\n%s", out.String())
	})
	return tty, out, cmd, done
}

// klptest run --shell-on-fail through a terminal: the passing case gets no
// shell; the stalled one opens it at the failed step, before the cleanup,
// where the parked task still shows in the probe; exit lets the run end
// with its verdicts, and no QEMU is left. Kernel: debian:6.1 amd64.
func TestE2EShellOnFail(t *testing.T) {
	requireQEMU(t)
	before := qemuPids(t)
	tty, out, _, done := startInPty(t, "run", "--kernel", "debian:6.1", "--case", "patch", "--case", "demo-stall", "--shell-on-fail")
	out.waitFor(t, "case demo-stall failed at step", 5*time.Minute)
	// Counted once the shell's prompt is up: the banner's last line comes
	// after the line waited for, maybe in a later read.
	out.waitForAfter(t, "kills the VM from outside.", shellPrompt, time.Minute)
	if n := strings.Count(out.String(), "exit (or ^D) to leave"); n != 1 {
		t.Errorf("%d shell banners by the time demo-stall's shell was up; want 1: a shell opened before demo-stall failed", n)
	}
	// The probe's view, as it failed: the parked task still unpatched
	// (state 0) and pending (1): "PID TGID STATE PENDING KTHREAD IDLE CPU
	// COMM".
	tty.WriteString("cat /proc/klpt_tasks\r") // the initramfs has no grep
	out.waitForRE(t, regexp.MustCompile(`(?m)^[0-9]+ [0-9]+ 0 1 0 0 -1 klpt-parker`), time.Minute)
	out.waitForAfter(t, "klpt-parker", shellPrompt, time.Minute)
	tty.WriteString("exit\r")
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("klptest run did not end 3 minutes after exit")
	}
	out.waitFor(t, "FAIL demo-stall", time.Second)
	if !strings.Contains(out.String(), "PASS patch") {
		t.Errorf("no PASS for patch")
	}
	for pid := range qemuPids(t) {
		if !before[pid] {
			t.Errorf("QEMU pid %s outlived klptest run", pid)
		}
	}
}

// klptest shell through a terminal, as a person uses it: the guest's shell
// runs a command and shows its output, exit returns, and no QEMU is left.
// Kernel: debian:6.1 amd64.
func TestE2EShell(t *testing.T) {
	requireQEMU(t)
	before := qemuPids(t)
	tty, out, _, done := startInPty(t, "shell", "--kernel", "debian:6.1")

	out.waitFor(t, "exit (or ^D) to leave", 3*time.Minute)
	out.waitForAfter(t, "kills the VM from outside.", shellPrompt, time.Minute)
	tty.WriteString("cat /proc/sys/kernel/osrelease /proc/cmdline\r")
	out.waitFor(t, "6.1.0-", time.Minute)
	out.waitFor(t, "klptest.shell=1", time.Second)
	// Type the next command at the next prompt, as a person does: typed
	// ahead, it lands in the terminal's cooked mode between the shell's
	// raw reads.
	out.waitForAfter(t, "klptest.shell=1", shellPrompt, time.Minute)
	tty.WriteString("exit\r")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("klptest shell: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("klptest shell did not return a minute after exit")
	}
	out.waitFor(t, "the VM is gone", time.Second)
	for pid := range qemuPids(t) {
		if !before[pid] {
			t.Errorf("QEMU pid %s outlived klptest shell", pid)
		}
	}
}
