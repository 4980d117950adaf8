package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a fake QEMU (Config.QEMU = os.Executable())
// speaking just enough QMP, so lifetimes are tested without booting.
const fakeEnv = "VM_FAKE_QEMU"

func TestMain(m *testing.M) {
	if os.Getenv(parentEnv) != "" {
		fakeParent()
		os.Exit(0)
	}
	if mode := os.Getenv(fakeEnv); mode != "" {
		fakeQEMU(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const fakeLines = 50000

// fakeQEMU serves QMP on fd 3 and writes results to fd 4. Modes:
// hang (ignores quit), quit (honors quit), guest (writes results, then
// SHUTDOWN guest-reset), poweroff (SHUTDOWN guest-shutdown), crash (exits
// 3 without SHUTDOWN), die (fails before QMP, like a bad argv).
func fakeQEMU(mode string) {
	if mode == "die" {
		fmt.Fprintln(os.Stderr, "qemu-system-x86_64: -device bogus: 'bogus' is not a valid device model name")
		os.Exit(1)
	}
	ln, err := net.FileListener(os.NewFile(qmpFD, "qmp"))
	if err != nil {
		panic(err)
	}
	res := os.NewFile(resultFD, "results")
	c, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	w := func(s string) { c.Write([]byte(s + "\r\n")) }
	event := func(name, data string) {
		w(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "` + name + `", "data": ` + data + `}`)
	}
	w(`{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}`)
	dec := json.NewDecoder(c)
	for {
		var cmd struct {
			Execute string `json:"execute"`
		}
		if err := dec.Decode(&cmd); err != nil {
			if mode == "hang" {
				select {} // only a signal ends a hung QEMU
			}
			os.Exit(0)
		}
		switch cmd.Execute {
		case "quit":
			if mode == "hang" {
				continue // never answers: Stop must SIGKILL
			}
			w(`{"return": {}}`)
			event("SHUTDOWN", `{"guest": false, "reason": "host-qmp-quit"}`)
			os.Exit(0)
		case "cont":
			w(`{"return": {}}`)
			switch mode {
			case "guest", "poweroff":
				bw := bufio.NewWriter(res)
				for i := range fakeLines {
					fmt.Fprintf(bw, "line %d\n", i)
				}
				bw.Flush()
				reason := "guest-reset"
				if mode == "poweroff" {
					reason = "guest-shutdown"
				}
				event("SHUTDOWN", `{"guest": true, "reason": "`+reason+`"}`)
				os.Exit(0)
			case "crash":
				fmt.Fprintln(os.Stderr, "qemu: fatal: boom")
				os.Exit(3)
			}
		default:
			w(`{"return": {}}`)
		}
	}
}

const parentEnv = "VM_FAKE_PARENT"

// fakeParent plays klptest: it starts a fake QEMU, prints its pid and
// waits to be SIGKILLed without any chance to clean up.
func fakeParent() {
	os.Unsetenv(parentEnv)
	exe, _ := os.Executable()
	m, err := Start(context.Background(), Config{
		Arch: "x86_64", QEMU: exe, Kernel: exe, ConsoleLog: os.DevNull,
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(m.Pid())
	select {}
}

// No QEMU may outlive klptest, even if klptest is SIGKILLed.
func TestQEMUDiesWithParent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), parentEnv+"=1", fakeEnv+"=hang", "TMPDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatalf("parent: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !alive(pid) {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("qemu pid %d outlived its parent", pid)
}

// alive reports whether pid exists and is not a zombie awaiting its
// (re)parent.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z'
	}
	return true
}

func fakeConfig(t *testing.T, mode string) Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeEnv, mode)
	dir := t.TempDir()
	kernel := filepath.Join(dir, "bzImage")
	if err := os.WriteFile(kernel, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return Config{
		Arch:       "x86_64",
		QEMU:       exe,
		Kernel:     kernel,
		Accel:      "tcg",
		ConsoleLog: filepath.Join(dir, "console.log"),
	}
}

func assertGone(t *testing.T, pid int) {
	t.Helper()
	if alive(pid) {
		t.Errorf("qemu pid %d still exists", pid)
	}
}

func TestStartMissingBinary(t *testing.T) {
	cfg := fakeConfig(t, "hang")
	cfg.QEMU = "qemu-system-does-not-exist"
	_, err := Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "qemu-system-does-not-exist") || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Start error = %v, want not found", err)
	}
}

func TestStartMissingKernel(t *testing.T) {
	cfg := fakeConfig(t, "hang")
	cfg.Kernel = "/nonexistent/bzImage"
	_, err := Start(context.Background(), cfg)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/bzImage") {
		t.Fatalf("Start error = %v, want kernel not found", err)
	}
}

func TestStartQEMUFails(t *testing.T) {
	cfg := fakeConfig(t, "die")
	_, err := Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "not a valid device model name") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("Start error = %v, want QEMU's stderr and status", err)
	}
}

// A QEMU that never answers QMP (a shell script that sleeps, leaving a
// child holding its stderr) must not hang Start.
func TestStartQMPTimeout(t *testing.T) {
	old := qmpTimeout
	qmpTimeout = 500 * time.Millisecond
	t.Cleanup(func() { qmpTimeout = old })
	cfg := fakeConfig(t, "hang")
	cfg.QEMU = filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(cfg.QEMU, []byte("#!/bin/sh\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "qmp connect") {
		t.Fatalf("Start error = %v, want qmp connect timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Start took %s", d)
	}
}

func TestStopKills(t *testing.T) {
	m, err := Start(context.Background(), fakeConfig(t, "hang"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 { // concurrent Stops are fine
		wg.Go(func() {
			if err := m.Stop(200 * time.Millisecond); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %s", d)
	}
	exit, err := m.Wait()
	if err != nil {
		t.Errorf("Wait error = %v", err)
	}
	if exit.Reason != ReasonKilled || exit.ExitCode != -1 {
		t.Errorf("exit = %+v, want killed by signal", exit)
	}
	if err := m.Stop(time.Second); err != nil { // idempotent after exit
		t.Error(err)
	}
	if _, err := io.ReadAll(m.Results()); err != nil {
		t.Errorf("Results: %v", err)
	}
	assertGone(t, m.Pid())
}

func TestStopQuit(t *testing.T) {
	m, err := Start(context.Background(), fakeConfig(t, "quit"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %s although QEMU honored quit", d)
	}
	exit, err := m.Wait()
	if err != nil || exit.Reason != ReasonKilled || exit.ShutdownReason != "host-qmp-quit" || exit.ExitCode != 0 {
		t.Errorf("Wait = %+v, %v; want killed by host-qmp-quit, status 0", exit, err)
	}
}

func TestContextCancelKills(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	m, err := Start(ctx, fakeConfig(t, "hang"))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	exit, err := m.Wait()
	if !errors.Is(err, context.Canceled) || exit.Reason != ReasonKilled {
		t.Errorf("Wait = %+v, %v; want killed, context.Canceled", exit, err)
	}
	assertGone(t, m.Pid())
}

func TestResultsAndReason(t *testing.T) {
	for mode, want := range map[string]string{"guest": ReasonGuestReset, "poweroff": ReasonShutdown} {
		t.Run(mode, func(t *testing.T) {
			m, err := Start(context.Background(), fakeConfig(t, mode))
			if err != nil {
				t.Fatal(err)
			}
			// Wait first: results must be drained even if nobody reads.
			exit, err := m.Wait()
			if err != nil || exit.Reason != want {
				t.Fatalf("Wait = %+v, %v; want %s", exit, err, want)
			}
			b, err := io.ReadAll(m.Results())
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) != fakeLines || lines[fakeLines-1] != fmt.Sprintf("line %d", fakeLines-1) {
				t.Errorf("got %d result lines, want %d", len(lines), fakeLines)
			}
		})
	}
}

func TestCrash(t *testing.T) {
	m, err := Start(context.Background(), fakeConfig(t, "crash"))
	if err != nil {
		t.Fatal(err)
	}
	exit, err := m.Wait()
	if exit.Reason != ReasonCrashed || exit.ExitCode != 3 {
		t.Errorf("exit = %+v, want crashed with status 3", exit)
	}
	if err == nil || !strings.Contains(err.Error(), "qemu: fatal: boom") {
		t.Errorf("Wait error = %v, want stderr tail", err)
	}
}

func TestExitReason(t *testing.T) {
	for _, tc := range []struct {
		shutdown string
		panicked bool
		killed   bool
		want     string
	}{
		{"guest-shutdown", false, false, ReasonShutdown},
		{"guest-shutdown", false, true, ReasonShutdown}, // Stop raced a poweroff
		{"guest-reset", false, false, ReasonGuestReset},
		{"guest-panic", true, false, ReasonGuestPanicked},
		{"", true, false, ReasonGuestPanicked},
		{"host-qmp-quit", false, true, ReasonKilled},
		{"host-signal", false, false, ReasonKilled},
		{"", false, true, ReasonKilled},
		{"", false, false, ReasonCrashed},
		{"host-error", false, false, ReasonCrashed},
	} {
		if got := exitReason(tc.shutdown, tc.panicked, tc.killed); got != tc.want {
			t.Errorf("exitReason(%q, %v, %v) = %q, want %q", tc.shutdown, tc.panicked, tc.killed, got, tc.want)
		}
	}
}

func TestDetectAccel(t *testing.T) {
	if got := DetectAccel("", "riscv64"); got != "tcg" {
		t.Errorf("DetectAccel(riscv64) = %q", got)
	}
	other := "arm64"
	if hostArch() == "arm64" {
		other = "x86_64"
	}
	if got := DetectAccel("", other); got != "tcg" {
		t.Errorf("DetectAccel(%s) = %q, want tcg for a foreign arch", other, got)
	}
	start := time.Now()
	got := DetectAccel("", hostArch())
	if d := time.Since(start); d > probeTimeout+2*time.Second {
		t.Errorf("DetectAccel took %s", d)
	}
	if got != "tcg" && got != "kvm" {
		t.Errorf("DetectAccel = %q", got)
	}
	start = time.Now()
	if again := DetectAccel("", hostArch()); again != got || time.Since(start) > 10*time.Millisecond {
		t.Errorf("second DetectAccel = %q after %s, want cached %q", again, time.Since(start), got)
	}
	t.Logf("DetectAccel(%s) = %s", hostArch(), got)
}

// The probe firmware itself, run under tcg: proves it reaches long mode and
// exits with the status DetectAccel expects.
func TestProbeFirmwareTCG(t *testing.T) {
	if hostArch() != "x86_64" {
		t.Skip("x86_64 firmware")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	if err := probeAccel("qemu-system-x86_64", "x86_64", "tcg"); err != nil {
		t.Fatal(err)
	}
}

func TestResultBuffer(t *testing.T) {
	r := newResultBuffer()
	go func() {
		for i := range 100 {
			r.write([]byte(fmt.Sprintf("%d\n", i)))
		}
		r.close(nil)
	}()
	b, err := io.ReadAll(r)
	if err != nil || strings.Count(string(b), "\n") != 100 {
		t.Errorf("ReadAll = %d bytes, %v", len(b), err)
	}
}

// Which ends say nothing about the kernel: someone else's signal, QEMU's
// own error; not klptest's kill, the guest's doing, or Ctrl-A x.
func TestExitOutside(t *testing.T) {
	for _, tc := range []struct {
		e    Exit
		want bool
	}{
		{Exit{Reason: ReasonCrashed, ExitCode: -1, Status: "signal: killed"}, true},
		{Exit{Reason: ReasonKilled, ShutdownReason: "host-signal"}, true},
		{Exit{Reason: ReasonCrashed, ShutdownReason: "host-error", ExitCode: 1}, true},
		{Exit{Reason: ReasonKilled, ExitCode: -1, ByHost: true}, false},
		{Exit{Reason: ReasonKilled, ShutdownReason: "host-signal", ByHost: true}, false},
		{Exit{Reason: ReasonKilled, ShutdownReason: "host-ui"}, false},
		{Exit{Reason: ReasonKilled, ShutdownReason: "host-qmp-quit"}, false},
		{Exit{Reason: ReasonCrashed, ExitCode: 0}, false},
		{Exit{Reason: ReasonGuestReset, ShutdownReason: "guest-reset"}, false},
		{Exit{Reason: ReasonShutdown, ShutdownReason: "guest-shutdown"}, false},
	} {
		if got := tc.e.Outside(); got != tc.want {
			t.Errorf("%+v: Outside() = %v, want %v", tc.e, got, tc.want)
		}
	}
}
