package runner

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// fakeVM stands in for QEMU: its result port is one end of a net.Pipe, the
// test's guest script writes the other. It exits with exit once the script
// is over, or as killed by the host when the run's context ends (a
// timeout's expire, an interrupt), as vm.Machine does.
type fakeVM struct {
	host, guest net.Conn
	exit        *vm.Exit
	scriptDone  chan struct{}
	killed      chan struct{}
	killOnce    sync.Once
	stops       int
}

func (f *fakeVM) Results() io.Reader { return f.host }
func (f *fakeVM) Reply(line string) error {
	_, err := f.host.Write([]byte(line + "\n"))
	return err
}
func (f *fakeVM) Wait() (*vm.Exit, error) {
	select {
	case <-f.scriptDone:
		return f.exit, nil
	case <-f.killed:
		return &vm.Exit{Reason: vm.ReasonKilled, Status: "signal: killed", ByHost: true}, nil
	}
}
func (f *fakeVM) kill() {
	f.killOnce.Do(func() {
		close(f.killed)
		f.host.Close()
		f.guest.Close()
	})
}
func (f *fakeVM) Stop(time.Duration) error { f.stops++; f.kill(); return nil }
func (f *fakeVM) CommandLine() string      { return "qemu-fake" }
func (f *fakeVM) SendSysrq(...string) error {
	return errors.New("no keyboard in a fake")
}
func (f *fakeVM) HMP(string) (string, error) { return "", errors.New("no monitor in a fake") }
func (f *fakeVM) DumpGuestMemory(string, time.Duration) error {
	return errors.New("no memory in a fake")
}

const (
	evHello = `{"v":1,"type":"hello","hello":{"release":"r","machine":"x86_64","cpus":2,"cases":["patch","signal"]}}`
	evPatch = `{"v":1,"type":"case-start","case":"patch","case_start":{"t":1}}`
	evPEnd  = `{"v":1,"type":"case-end","case":"patch","case_end":{"t":2}}`
	evSig   = `{"v":1,"type":"case-start","case":"signal","case_start":{"t":3}}`
	evSEnd  = `{"v":1,"type":"case-end","case":"signal","case_end":{"t":4}}`
	evDone  = `{"v":1,"type":"done"}`
)

var shutdown = &vm.Exit{Reason: vm.ReasonShutdown, ShutdownReason: "guest-shutdown", Status: "exit status 0"}

// A boot's end decides its cases' fate and the exit class that `git bisect
// run` reads: each way a boot ends, driven through the real session and
// classify over a pipe.
func TestBootSessionClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		// script is what the guest writes; hang: it then writes nothing
		// more and never powers off.
		script []string
		hang   bool
		exit   *vm.Exit
		noBoot bool // the boot bound expires before any hello
		// What the boot must come to.
		infra      bool   // an *InfraError: klptest could not test (exit 125)
		incomplete string // in Boot.Incomplete ("" = none)
		verdicts   map[string]string
	}{
		{name: "done", script: []string{evHello, evPatch, evPEnd, evSig, evSEnd, evDone}, exit: shutdown,
			verdicts: map[string]string{"patch": "", "signal": ""}},
		{name: "no done", script: []string{evHello, evPatch, evPEnd, evSig}, exit: shutdown,
			verdicts: map[string]string{"patch": "", "signal": "the result stream broke during the case (the guest ran on, and powered off): result stream ended without a done event"}},
		{name: "truncated", script: []string{evHello, evPatch, evPEnd, evSig, `{"v":1,"type":"op","case":"sig`}, exit: shutdown,
			verdicts: map[string]string{"patch": "", "signal": `result stream broken after event "case-start"`}},
		{name: "QEMU killed from outside", script: []string{evHello, evPatch, evPEnd, evSig},
			exit:       &vm.Exit{Reason: vm.ReasonCrashed, ExitCode: -1, Status: "signal: killed"},
			infra:      true,
			incomplete: "not by klptest or its guest",
			verdicts:   map[string]string{"patch": ""}}, // the ended case keeps its verdict; signal has none
		{name: "timeout", script: []string{evHello, evPatch, evPEnd, evSig}, hang: true,
			incomplete: "the VM did not finish within 300ms",
			verdicts:   map[string]string{"patch": "", "signal": "the VM ended during the case: the VM did not finish within 300ms"}},
		{name: "panic", script: []string{evHello, evPatch, evPEnd, evSig},
			exit:     &vm.Exit{Reason: vm.ReasonGuestPanicked, Status: "exit status 0", Console: "[ 9.1] Oops: int3\n[ 9.2] Kernel panic - not syncing: Fatal exception\n"},
			verdicts: map[string]string{"patch": "", "signal": "QEMU guest-panicked (exit status 0); kernel panic:\n[ 9.1] Oops: int3\n[ 9.2] Kernel panic"}},
		{name: "never booted", noBoot: true, hang: true, infra: true,
			incomplete: "the guest agent did not start within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := cases.Lookup([]string{"patch", "signal"})
			if err != nil {
				t.Fatal(err)
			}
			f := &fakeVM{exit: tc.exit, scriptDone: make(chan struct{}), killed: make(chan struct{})}
			f.host, f.guest = net.Pipe()
			r := newRun(Options{Arch: "x86_64", Timeout: 300 * time.Millisecond})
			r.res.Cases = caseNames(cs)
			var collected []string
			r.start = func(ctx context.Context, cfg vm.Config) (machine, error) {
				go func() { <-ctx.Done(); f.kill() }()
				go func() {
					w := bufio.NewWriter(f.guest)
					for _, l := range tc.script {
						w.WriteString(l)
						if strings.HasSuffix(l, "}") {
							w.WriteString("\n")
						}
						w.Flush()
					}
					if tc.hang {
						return
					}
					f.guest.Close()
					close(f.scriptDone)
				}()
				return f, nil
			}
			saved := BootTimeout
			BootTimeout = time.Hour
			if tc.noBoot {
				BootTimeout = 200 * time.Millisecond
			}
			defer func() { BootTimeout = saved }()
			img := &image{kernel: &kernels.Spec{Image: "/nonexistent/bzImage", Release: "r"}, runDir: t.TempDir(), accel: "tcg"}
			b, err := r.bootWith(context.Background(), img, cs, "console-0.log", bootMode{}, nil,
				func(reason, running, _ string) *HostForensics {
					collected = append(collected, reason+" in "+running)
					return &HostForensics{Reason: reason, Case: running}
				})
			var ie *InfraError
			if got := errors.As(err, &ie); got != tc.infra {
				t.Errorf("err = %v: an infra error %v, want %v", err, got, tc.infra)
			}
			if tc.incomplete == "" && b.Incomplete != "" || !strings.Contains(b.Incomplete, tc.incomplete) {
				t.Errorf("Boot.Incomplete = %q, want %q", b.Incomplete, tc.incomplete)
			}
			if (tc.hang || tc.noBoot) != (len(collected) == 1) || (len(collected) == 1 && b.HostForensics == nil) {
				t.Errorf("host forensics %q (in the boot: %v): want them exactly when the VM was expired", collected, b.HostForensics != nil)
			}
			if f.stops == 0 {
				t.Error("the VM was never stopped")
			}
			got := map[string]string{}
			for _, v := range r.res.Verdicts {
				var msgs []string
				for _, x := range v.Violations {
					if txt := x.Text(); strings.Contains(txt, "VM ended") || strings.Contains(txt, "stream") || strings.Contains(txt, "panic") {
						msgs = append(msgs, txt)
					}
				}
				got[v.Case] = strings.Join(msgs, " | ")
			}
			if len(got) != len(tc.verdicts) {
				t.Errorf("verdicts for %v, want for %v", got, tc.verdicts)
			}
			for c, want := range tc.verdicts {
				g, ok := got[c]
				switch {
				case !ok:
					t.Errorf("%s: no verdict", c)
				case want == "" && g != "":
					t.Errorf("%s: the end of the VM is blamed on a case that ended: %q", c, g)
				case !strings.Contains(g, want):
					t.Errorf("%s: %q, want %q", c, g, want)
				}
			}
		})
	}
}

// The agent's questions get their answers on the result port: shell-on-fail
// asks after each case, and a passing one is told to go on.
func TestBootSessionReplies(t *testing.T) {
	cs, _ := cases.Lookup([]string{"patch"})
	f := &fakeVM{exit: shutdown, scriptDone: make(chan struct{}), killed: make(chan struct{})}
	f.host, f.guest = net.Pipe()
	r := newRun(Options{Arch: "x86_64", ShellOnFail: &Terminal{In: strings.NewReader(""), Out: io.Discard}})
	replies := make(chan string, 1)
	r.start = func(ctx context.Context, cfg vm.Config) (machine, error) {
		if !strings.Contains(strings.Join(cfg.Cmdline, " "), "klptest.shell_on_fail=1") || !cfg.Interactive {
			t.Errorf("a shell-on-fail boot: cmdline %q, interactive %v", cfg.Cmdline, cfg.Interactive)
		}
		go func() {
			rd := bufio.NewReader(f.guest)
			for _, l := range []string{evHello, `{"v":1,"type":"case-start","case":"patch"}`, `{"v":1,"type":"case-end","case":"patch","case_end":{"t":2}}`, `{"v":1,"type":"ask","case":"patch"}`} {
				f.guest.Write([]byte(l + "\n"))
			}
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Errorf("no reply: %v", err)
			}
			replies <- strings.TrimSpace(line)
			f.guest.Write([]byte(evDone + "\n"))
			f.guest.Close()
			close(f.scriptDone)
		}()
		return f, nil
	}
	img := &image{kernel: &kernels.Spec{Image: "/nonexistent", Release: "r"}, runDir: t.TempDir(), accel: "tcg"}
	if _, err := r.boot(context.Background(), img, cs, "console-0.log", bootMode{}, nil); err != nil {
		t.Fatal(err)
	}
	// The case has no ops: it fails its checks, so the agent is told to
	// open the shell.
	if got := <-replies; got != wire.ReplyShell {
		t.Errorf("reply %q, want %q (the case failed)", got, wire.ReplyShell)
	}
}

// A boot without a bound (a shell, or shell-on-fail: a person sets the
// pace) is never expired, however long its guest takes. Run many times: a
// timer armed for 0 and stopped right after expired it now and then.
func TestBootSessionUnbounded(t *testing.T) {
	cs, _ := cases.Lookup([]string{"patch"})
	for i := 0; i < 20; i++ {
		f := &fakeVM{exit: shutdown, scriptDone: make(chan struct{}), killed: make(chan struct{})}
		f.host, f.guest = net.Pipe()
		r := newRun(Options{Arch: "x86_64", ShellOnFail: &Terminal{In: strings.NewReader(""), Out: io.Discard}})
		r.start = func(ctx context.Context, cfg vm.Config) (machine, error) {
			go func() { <-ctx.Done(); f.kill() }()
			go func() {
				time.Sleep(20 * time.Millisecond)
				for _, l := range []string{evHello, evDone} {
					f.guest.Write([]byte(l + "\n"))
				}
				f.guest.Close()
				close(f.scriptDone)
			}()
			return f, nil
		}
		var expired []string
		img := &image{kernel: &kernels.Spec{Image: "/nonexistent", Release: "r"}, runDir: t.TempDir(), accel: "tcg"}
		b, _ := r.bootWith(context.Background(), img, cs, "console-0.log", bootMode{}, nil,
			func(reason, running, _ string) *HostForensics {
				expired = append(expired, reason)
				return &HostForensics{Reason: reason}
			})
		if len(expired) > 0 || b.Incomplete != "" {
			t.Fatalf("run %d: an unbounded boot was expired: %q, incomplete %q", i+1, expired, b.Incomplete)
		}
	}
}
