//go:build e2e

package vm

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/u-root/mkuimage/cpio"
)

// e2eKernel is a Debian 6.12 amd64 kernel with VIRTIO_CONSOLE, VIRTIO_PCI,
// SERIAL_8250 and DEVTMPFS built in.
const e2eKernel = "/tmp/klpt-kernel/vmlinuz"

// buildInitramfs builds testdata/guestinit as a static /init and packs it.
func buildInitramfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/guestinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build guest init: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "initramfs.cpio")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := cpio.Newc.Writer(f)
	if err := cpio.WriteRecords(w, []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("sys", 0o755),
		cpio.StaticFile("init", string(b), 0o755),
	}); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func bootE2E(t *testing.T, initrd, mode string) (*Exit, []string, string) {
	t.Helper()
	qemu := archs[hostArch()].qemu
	if _, err := exec.LookPath(qemu); err != nil {
		t.Skipf("%s not installed", qemu)
	}
	console := filepath.Join(t.TempDir(), "console.log")
	var cmdline []string
	if mode != "" {
		cmdline = append(cmdline, "KLPT_MODE="+mode)
	}
	cfg := Config{
		Arch:       hostArch(),
		Kernel:     e2eKernel,
		Initrd:     initrd,
		Cmdline:    cmdline,
		Accel:      DetectAccel("", hostArch()),
		ConsoleLog: console,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(time.Second)

	var lines []string
	sc := bufio.NewScanner(m.Results())
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Errorf("results: %v", err)
	}
	exit, err := m.Wait()
	if err != nil {
		t.Fatalf("Wait: %v (exit %+v)", err, exit)
	}
	t.Logf("%s boot with %s: %s in %s", mode, cfg.Accel, exit, time.Since(start).Round(time.Millisecond))
	b, _ := os.ReadFile(console)
	return exit, lines, string(b)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func checkLines(t *testing.T, lines []string, mode string) {
	t.Helper()
	const want = 200 // guestinit's line count
	if len(lines) != want {
		t.Errorf("got %d result lines, want %d", len(lines), want)
	}
	for i, l := range lines {
		if exp := fmt.Sprintf("{\"line\":%d,\"mode\":%q}", i, mode); l != exp {
			t.Errorf("line %d = %q, want %q", i, l, exp)
			break
		}
	}
}

func TestE2EPoweroff(t *testing.T) {
	if _, err := os.Stat(e2eKernel); err != nil {
		t.Fatalf("e2e kernel: %v", err)
	}
	exit, lines, console := bootE2E(t, buildInitramfs(t), "")
	if exit.Reason != ReasonShutdown || exit.ShutdownReason != "guest-shutdown" || exit.ExitCode != 0 {
		t.Errorf("exit = %+v, want shutdown", exit)
	}
	checkLines(t, lines, "")
	if !strings.Contains(console, "Linux version") {
		t.Errorf("console log lacks the kernel banner:\n%s", console)
	}
}

func TestE2EPanic(t *testing.T) {
	if _, err := os.Stat(e2eKernel); err != nil {
		t.Fatalf("e2e kernel: %v", err)
	}
	exit, lines, console := bootE2E(t, buildInitramfs(t), "panic")
	if exit.Reason != ReasonGuestReset || exit.ShutdownReason != "guest-reset" {
		t.Errorf("exit = %+v, want guest-reset", exit)
	}
	checkLines(t, lines, "panic")
	if !strings.Contains(console, "Attempted to kill init") {
		t.Errorf("console log lacks the panic:\n%s", console)
	}
	if !strings.Contains(exit.Console, "Kernel panic") {
		t.Errorf("Exit.Console lacks the panic: %q", exit.Console)
	}
}

// Stop on a real QEMU in mid-boot: QMP quit is honored well within grace.
func TestE2EStop(t *testing.T) {
	qemu := archs[hostArch()].qemu
	if _, err := exec.LookPath(qemu); err != nil {
		t.Skipf("%s not installed", qemu)
	}
	m, err := Start(context.Background(), Config{
		Arch:       hostArch(),
		Kernel:     e2eKernel,
		Initrd:     buildInitramfs(t),
		Accel:      DetectAccel("", hostArch()),
		ConsoleLog: filepath.Join(t.TempDir(), "console.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := m.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %s", d)
	}
	exit, err := m.Wait()
	if err != nil || exit.Reason != ReasonKilled || exit.ShutdownReason != "host-qmp-quit" {
		t.Errorf("Wait = %+v, %v; want killed by host-qmp-quit", exit, err)
	}
	if alive(m.Pid()) {
		t.Errorf("qemu pid %d still exists", m.Pid())
	}
}
