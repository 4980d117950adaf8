//go:build e2e

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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

func (p *ptyOutput) waitForCount(t *testing.T, text string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for strings.Count(p.String(), text) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q not shown %d times on the terminal after %v; it shows:\n%s", text, n, within, p.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// klptest shell through a terminal, as a person uses it: the guest's shell
// runs a command and shows its output, exit returns, and no QEMU is left.
// Kernel: debian:6.1 amd64.
func TestE2EShell(t *testing.T) {
	requireQEMU(t)
	bin := filepath.Join(t.TempDir(), "klptest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src, _ := filepath.Abs("../..")
	before := qemuPids(t)
	cmd := exec.Command(bin, "shell", "--kernel", "debian:6.1")
	cmd.Env = append(os.Environ(), "KLPTEST_SRC="+src)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out ptyOutput
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
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
		t.Logf("terminal:\n%s", out.String())
	}()

	out.waitFor(t, "exit (or ^D) to leave", 3*time.Minute)
	// u-root's shell asks the terminal for the cursor position, which a
	// bare pty never answers; it draws its prompt once it gives up.
	out.waitFor(t, "toggle key help", time.Minute)
	tty.WriteString("cat /proc/sys/kernel/osrelease /proc/cmdline\r")
	out.waitFor(t, "6.1.0-", time.Minute)
	out.waitFor(t, "klptest.shell=1", time.Second)
	// Type the next command at the next prompt, as a person does: typed
	// ahead, it lands in the terminal's cooked mode between the shell's
	// raw reads, and its Enter arrives as a newline the line editor does
	// not take for Enter.
	out.waitForCount(t, "toggle key help", 2, time.Minute)
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
