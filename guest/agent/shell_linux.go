package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/klptest/klptest/wire"
	"golang.org/x/sys/unix"
)

// consoleTTY names the kernel console's tty device: the last of the active
// consoles (ttyS0 on x86, ttyAMA0 on arm64).
func consoleTTY() string {
	b, err := os.ReadFile("/sys/class/tty/console/active")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return "/dev/" + f[len(f)-1]
	}
	return "/dev/console"
}

// shell runs u-root's shell on the console, as the session leader with the
// console as its controlling terminal, and returns when the user exits it.
func shell(banner string) error {
	tty := consoleTTY()
	f, err := os.OpenFile(tty, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("shell: open %s: %w", tty, err)
	}
	defer f.Close()
	// The shell's line editor (liner) lays the line out by the terminal's
	// width; a serial console reports none (0x0): give it the 80x24 of a
	// terminal that says nothing.
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col == 0 {
		unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	}
	fmt.Fprintf(f, "\r\n%s\r\n", strings.ReplaceAll(banner, "\n", "\r\n"))
	cmd := exec.Command("/bin/gosh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "PATH=/bin:/ubin:/sbin:/usr/bin", "HOME=/", "TERM=vt100")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	// The shell's exit status is the user's last command's, not ours.
	var exit *exec.ExitError
	if err := cmd.Run(); err != nil && !errors.As(err, &exit) {
		return fmt.Errorf("shell: %w", err)
	}
	return nil
}

// shellBanner tells the user where they are.
func shellBanner(why string) string {
	return fmt.Sprintf(`klptest shell: %s
  klptest's modules are loaded (klpt_target, klpt_probe); the others are in %s.
  /proc/klpt_tasks: every task's patch state; /sys/kernel/livepatch: the patches.
  exit (or ^D) to leave: %s
  Ctrl-A x kills the VM from outside.`, why, wire.ModuleDir, map[bool]string{true: "klptest then goes on with the remaining cases.", false: "the VM powers off."}[strings.Contains(why, "failed")])
}

// askShell asks the host to judge the case, now that it ended; on a
// failure not yet shown in a shell it opens one, after the cleanup. The
// case is closed: errors from here on belong to the boot.
func (r *caseRun) askShell() {
	r.ev(wire.Event{Type: wire.EvAsk})
	bootErr := func(err error) { r.e.emit(wire.Event{Type: wire.EvError, Error: err.Error()}) }
	reply, err := r.e.reply(10 * time.Minute)
	switch {
	case err != nil:
		bootErr(fmt.Errorf("shell-on-fail: %w", err))
	case reply == wire.ReplyShell && !r.shellOpened:
		if err := shell(shellBanner("case " + r.c.Name + " failed; its cleanup has run, its kernel log is in dmesg")); err != nil {
			bootErr(err)
		}
	}
}
