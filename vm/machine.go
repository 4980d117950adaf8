package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// Exit reasons.
const (
	ReasonShutdown      = "shutdown"       // the guest powered off
	ReasonGuestReset    = "guest-reset"    // the guest rebooted: with panic=-1 and -no-reboot, a kernel panic
	ReasonGuestPanicked = "guest-panicked" // pvpanic reported a guest panic (GUEST_PANICKED)
	ReasonKilled        = "killed"         // the host stopped QEMU: Stop, context cancellation, or a signal to QEMU
	ReasonCrashed       = "crashed"        // QEMU died without a SHUTDOWN event (QEMU error, abort, external SIGKILL)
)

// Timeouts. Vars so tests may shorten them.
var (
	qmpTimeout   = 10 * time.Second // QMP handshake and each command
	drainTimeout = 5 * time.Second  // reading what is left in the sockets once QEMU is gone
)

const tailBytes = 4 << 10 // stderr and console tails kept for errors

// Exit describes how QEMU ended.
type Exit struct {
	Reason         string // one of the Reason* constants
	ShutdownReason string // reason of QEMU's SHUTDOWN event ("guest-shutdown", "guest-reset", "host-qmp-quit", ...); "" if none
	ExitCode       int    // QEMU's exit status; -1 if it died from a signal
	Status         string // e.g. "exit status 0", "signal: killed"
	Stderr         string // tail of QEMU's stderr (and stdout)
	Console        string // tail of the serial console log
	// ByHost: klptest itself stopped QEMU (Stop, a timeout, an interrupt).
	ByHost bool `json:"by_host,omitempty"`
}

// Outside reports a QEMU that died of something other than its guest,
// klptest or the person at its console: a signal from someone else, or
// QEMU's own error. That is no verdict on the kernel.
func (e *Exit) Outside() bool {
	if e.ByHost {
		return false
	}
	switch e.ShutdownReason {
	case "host-signal", "host-error":
		return true
	case "":
		// Killed or aborted with no word to QMP. A clean exit 0 is the
		// console's Ctrl-A x on an older QEMU: the person's choice.
		return e.Reason == ReasonCrashed && e.ExitCode != 0
	}
	// host-ui (Ctrl-A x), host-qmp-quit, and the guest's own reasons.
	return false
}

func (e *Exit) String() string {
	s := e.Reason + " (" + e.Status
	if e.ShutdownReason != "" {
		s += ", SHUTDOWN " + e.ShutdownReason
	}
	return s + ")"
}

// Machine is one running QEMU.
type Machine struct {
	cfg    Config
	log    *slog.Logger
	argv   []string // argv[0] is the QEMU binary
	runDir string
	cmd    *exec.Cmd

	stderr  *tailBuffer
	results *resultBuffer
	resConn net.Conn
	resDone chan struct{} // closed when the result socket is drained

	mon       *qmp.SocketMonitor // nil if QMP never connected
	evDone    chan struct{}      // closed when the event channel is drained; nil if not subscribed
	setupDone chan struct{}      // closed when Start no longer touches mon

	procDone chan struct{} // closed when QEMU has been reaped
	done     chan struct{} // closed when exit/waitErr are final
	exit     *Exit
	waitErr  error

	mu         sync.Mutex
	killCause  error  // why the host killed QEMU: errStopped or ctx.Err(); nil = not killed by us
	shutdown   string // first SHUTDOWN reason
	panicked   bool   // GUEST_PANICKED seen
	panicInfo  string
	stopIssued bool
}

var errStopped = errors.New("stopped")

// Start starts QEMU paused (-S), connects QMP, subscribes to events, then
// sends `cont`. Cancelling ctx kills QEMU at any time, also after Start
// returns.
func Start(ctx context.Context, cfg Config) (_ *Machine, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	qemu := cfg.qemuBinary()
	if qemu == "" {
		_, err := cfg.Args() // reports the bad arch
		return nil, err
	}
	if err := CheckAccel(cfg.Accel, cfg.Arch); err != nil {
		return nil, err
	}
	path, err := lookQEMU(qemu)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{cfg.Kernel, cfg.Initrd} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
	}

	// Private 0700 run dir for the QMP socket (and the console log if the
	// caller did not ask for one). Unix socket paths are limited to ~108
	// bytes, so fall back to /tmp if TMPDIR is long.
	tmp := os.TempDir()
	if len(tmp) > 60 {
		tmp = "/tmp"
	}
	runDir, err := os.MkdirTemp(tmp, "klptest-vm-")
	if err != nil {
		return nil, fmt.Errorf("vm: run dir: %w", err)
	}
	cleanup := []func(){func() { os.RemoveAll(runDir) }}
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	if cfg.ConsoleLog == "" {
		cfg.ConsoleLog = filepath.Join(runDir, "console.log")
	}
	args, err := cfg.Args()
	if err != nil {
		return nil, err
	}

	// QMP: bind the listener here and hand QEMU the fd, so the socket
	// exists before QEMU runs and dialing it cannot race QEMU's startup.
	qmpPath := filepath.Join(runDir, "qmp.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: qmpPath, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("vm: qmp listen: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	qmpFile, err := ln.File()
	ln.Close() // only QEMU may hold the listener: if it dies, our dial fails instead of hanging
	if err != nil {
		return nil, fmt.Errorf("vm: qmp listen: %w", err)
	}
	cleanup = append(cleanup, func() { qmpFile.Close() })

	// Result port: a socketpair; QEMU gets one end as a connected chardev
	// socket, we read the other until EOF (QEMU exit).
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vm: result socketpair: %w", err)
	}
	// Best effort: a big send buffer lets QEMU flush the guest's last
	// writes without waiting for us.
	_ = syscall.SetsockoptInt(fds[1], syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<20)
	hostEnd := os.NewFile(uintptr(fds[0]), "results-host")
	qemuEnd := os.NewFile(uintptr(fds[1]), "results-qemu")
	cleanup = append(cleanup, func() { qemuEnd.Close() })
	resConn, err := net.FileConn(hostEnd) // dups into a pollable conn, so Close interrupts reads
	hostEnd.Close()
	if err != nil {
		return nil, fmt.Errorf("vm: result socket: %w", err)
	}
	cleanup = append(cleanup, func() { resConn.Close() })

	m := &Machine{
		cfg:       cfg,
		log:       log,
		argv:      append([]string{path}, args...),
		runDir:    runDir,
		stderr:    newTailBuffer(tailBytes),
		results:   newResultBuffer(),
		resConn:   resConn,
		resDone:   make(chan struct{}),
		setupDone: make(chan struct{}),
		procDone:  make(chan struct{}),
		done:      make(chan struct{}),
	}
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{qmpFile, qemuEnd} // fd 3 = qmpFD, fd 4 = resultFD
	cmd.Stdout = m.stderr
	cmd.Stderr = m.stderr
	if cfg.Interactive {
		if cfg.Stdin == nil || cfg.Stdout == nil {
			return nil, errors.New("vm: an interactive console needs Stdin and Stdout")
		}
		// QEMU puts a terminal in raw mode itself, and restores it.
		cmd.Stdin, cmd.Stdout = cfg.Stdin, cfg.Stdout
	}
	// Own process group: a terminal ^C goes to klptest, which then stops
	// QEMU cleanly. Pdeathsig: QEMU dies with klptest whatever happens.
	// Interactive, QEMU stays in klptest's group: a background group
	// reading the terminal would be stopped (SIGTTIN); the terminal is raw,
	// so ^C reaches the guest rather than either of us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !cfg.Interactive, Pdeathsig: syscall.SIGKILL}
	// Don't let a leftover holder of the stderr pipe block Wait.
	cmd.WaitDelay = 2 * time.Second
	m.cmd = cmd
	log.Debug("starting qemu", "cmdline", m.CommandLine())
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("vm: start %s: %w", qemu, err)
	}
	// QEMU has its copies now.
	qmpFile.Close()
	qemuEnd.Close()
	cleanup = nil // from here on, finish() cleans up
	defer func() {
		if err != nil {
			m.kill()
			<-m.done
		}
	}()

	go m.finish()
	go m.drainResults()
	go func() {
		select {
		case <-ctx.Done():
			m.setKillCause(ctx.Err())
			m.kill()
		case <-m.procDone:
		}
	}()

	err = m.setupQMP(ctx, qmpPath)
	close(m.setupDone)
	if err != nil {
		return nil, m.startError(err)
	}
	return m, nil
}

// setupQMP connects QMP, subscribes to events and resumes the guest.
func (m *Machine) setupQMP(ctx context.Context, path string) error {
	mon, err := qmp.NewSocketMonitor("unix", path, qmpTimeout)
	if err != nil {
		return fmt.Errorf("qmp connect: %w", err)
	}
	// Connect has no timeout of its own. Killing QEMU closes the socket,
	// which makes it return.
	ch := make(chan error, 1)
	go func() { ch <- mon.Connect() }()
	select {
	case err = <-ch:
	case <-time.After(qmpTimeout):
		err = fmt.Errorf("no handshake after %s", qmpTimeout)
		m.setKillCause(err)
		m.kill()
		<-ch
	case <-ctx.Done():
		m.setKillCause(ctx.Err())
		m.kill()
		<-ch
		err = ctx.Err()
	}
	if err != nil {
		mon.Disconnect()
		return fmt.Errorf("qmp connect: %w", err)
	}
	m.mon = mon
	m.log.Debug("qmp connected", "qemu", mon.Version.String())
	// The path has served its purpose. Drop it, and the run dir unless it
	// holds the console log, so a SIGKILLed klptest leaves nothing behind.
	os.Remove(path)
	if filepath.Dir(m.cfg.ConsoleLog) != m.runDir && os.Remove(m.runDir) == nil {
		m.runDir = "" // finish reads it only after setupDone
	}

	events, err := mon.Events(context.Background())
	if err != nil {
		return fmt.Errorf("qmp events: %w", err)
	}
	// Drain continuously: an undrained channel blocks go-qemu's reader and
	// with it every later command, Disconnect included.
	m.evDone = make(chan struct{})
	go m.handleEvents(events)

	if _, err := m.run("cont"); err != nil {
		return err
	}
	return nil
}

// startError decorates a Start failure with what QEMU said.
func (m *Machine) startError(err error) error {
	m.kill()
	<-m.done
	if m.exit.ExitCode >= 0 { // not our SIGKILL: QEMU gave up by itself
		err = fmt.Errorf("qemu exited during startup (%s): %w", m.exit.Status, err)
	}
	var tail string
	if s := strings.TrimSpace(m.exit.Stderr); s != "" {
		tail = "\nqemu stderr:\n" + s
	}
	return fmt.Errorf("vm: %w%s\ncommand: %s", err, tail, m.CommandLine())
}

// run sends a QMP command without arguments and waits for the reply, at
// most qmpTimeout or until QEMU is gone.
func (m *Machine) run(command string) ([]byte, error) { return m.runArgs(command, nil) }

// runArgs is run with the command's arguments.
func (m *Machine) runArgs(command string, args map[string]any) ([]byte, error) {
	cmd := any(qmp.Command{Execute: command, Args: args})
	if args == nil { // QMP refuses "arguments": null
		cmd = struct {
			Execute string `json:"execute"`
		}{command}
	}
	b, _ := json.Marshal(cmd)
	type reply struct {
		b   []byte
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		b, err := m.mon.Run(b)
		ch <- reply{b, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("qmp %s: %w", command, r.err)
		}
		return r.b, nil
	case <-m.procDone:
		return nil, fmt.Errorf("qmp %s: qemu exited", command)
	case <-time.After(qmpTimeout):
		return nil, fmt.Errorf("qmp %s: no reply after %s", command, qmpTimeout)
	}
}

// DumpGuestMemory writes the guest's memory to path as an ELF core, which
// crash and drgn open, through QMP dump-guest-memory. The guest is paused
// for the dump and runs on after it. It waits at most timeout.
func (m *Machine) DumpGuestMemory(path string, timeout time.Duration) error {
	<-m.setupDone
	if m.mon == nil {
		return errors.New("vm: dump-guest-memory: no QMP connection")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(qmp.Command{Execute: "dump-guest-memory", Args: map[string]any{
		"paging": false, "protocol": "file:" + abs, "detach": false,
	}})
	ch := make(chan error, 1)
	go func() {
		_, err := m.mon.Run(b)
		ch <- err
	}()
	select {
	case err := <-ch:
		if err != nil {
			return fmt.Errorf("vm: dump-guest-memory to %s: %w", abs, err)
		}
		return nil
	case <-m.procDone:
		return errors.New("vm: dump-guest-memory: qemu exited")
	case <-time.After(timeout):
		return fmt.Errorf("vm: dump-guest-memory: not done after %s", timeout)
	}
}

// SendSysrq presses Alt-SysRq-key on the guest's PS/2 keyboard, through
// QMP send-key, for each key in turn: the host's way into a kernel whose
// user space no longer answers. Only machines with an i8042 have one (x86;
// arm64 virt has no keyboard), and the kernel must have its driver and
// allow the key (kernel.sysrq).
func (m *Machine) SendSysrq(keys ...string) error {
	<-m.setupDone
	if m.mon == nil {
		return errors.New("vm: send-key: no QMP connection")
	}
	if !archs[normArch(m.cfg.Arch)].keyboard {
		return fmt.Errorf("vm: %s guests have no keyboard to send SysRq on", m.cfg.Arch)
	}
	for _, k := range keys {
		args := map[string]any{"keys": []map[string]string{
			{"type": "qcode", "data": "alt"}, {"type": "qcode", "data": "sysrq"}, {"type": "qcode", "data": k},
		}}
		if _, err := m.runArgs("send-key", args); err != nil {
			return fmt.Errorf("vm: sysrq-%s: %w", k, err)
		}
	}
	return nil
}

// HMP runs a human monitor command (through QMP human-monitor-command) and
// returns its output: for what QMP has no command of its own for, such as
// every vCPU's registers ("info registers -a").
func (m *Machine) HMP(command string) (string, error) {
	<-m.setupDone
	if m.mon == nil {
		return "", errors.New("vm: hmp: no QMP connection")
	}
	b, err := m.runArgs("human-monitor-command", map[string]any{"command-line": command})
	if err != nil {
		return "", err
	}
	var r struct {
		Return string `json:"return"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("vm: hmp %q: %w", command, err)
	}
	return r.Return, nil
}

// Reply writes a line to the guest agent on the result port: the agent
// reads it only when an event of its own asked for a reply.
func (m *Machine) Reply(line string) error {
	m.resConn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := m.resConn.Write([]byte(line + "\n")); err != nil {
		return fmt.Errorf("vm: reply to the guest agent: %w", err)
	}
	return nil
}

func (m *Machine) handleEvents(events <-chan qmp.Event) {
	defer close(m.evDone)
	for ev := range events {
		m.log.Debug("qmp event", "event", ev.Event, "data", ev.Data)
		m.mu.Lock()
		switch ev.Event {
		case "SHUTDOWN":
			if m.shutdown == "" {
				m.shutdown, _ = ev.Data["reason"].(string)
				if m.shutdown == "" {
					m.shutdown = "unknown"
				}
			}
		case "GUEST_PANICKED":
			m.panicked = true
			if info, err := json.Marshal(ev.Data); err == nil {
				m.panicInfo = string(info)
			}
		}
		m.mu.Unlock()
	}
}

func (m *Machine) drainResults() {
	defer close(m.resDone)
	buf := make([]byte, 64<<10)
	for {
		n, err := m.resConn.Read(buf)
		if n > 0 {
			m.results.write(buf[:n])
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = fmt.Errorf("vm: result port not drained within %s of qemu exit", drainTimeout)
			} else if errors.Is(err, io.EOF) {
				err = nil
			}
			m.results.close(err)
			return
		}
	}
}

// finish reaps QEMU, drains the QMP events and the result socket, and
// records the Exit.
func (m *Machine) finish() {
	_ = m.cmd.Wait() // the exit status is in ProcessState
	close(m.procDone)

	<-m.setupDone // Start returns promptly once QEMU is gone
	if m.mon != nil {
		if m.evDone != nil {
			// QEMU closed its end: go-qemu reads the rest (the SHUTDOWN
			// event) and closes the channel. Disconnect only then, or the
			// last events are lost.
			select {
			case <-m.evDone:
			case <-time.After(drainTimeout):
			}
		}
		m.mon.Disconnect()
		if m.evDone != nil {
			<-m.evDone
		}
	}

	var drainErr error
	select {
	case <-m.resDone:
	case <-time.After(drainTimeout):
		m.resConn.Close()
		<-m.resDone
		drainErr = fmt.Errorf("vm: result port not drained within %s of qemu exit", drainTimeout)
	}
	m.resConn.Close()

	e := &Exit{
		ExitCode: m.cmd.ProcessState.ExitCode(),
		Status:   m.cmd.ProcessState.String(),
		Stderr:   m.stderr.String(),
		Console:  fileTail(m.cfg.ConsoleLog, tailBytes),
	}
	m.mu.Lock()
	e.ShutdownReason = m.shutdown
	e.Reason = exitReason(m.shutdown, m.panicked, m.killCause != nil)
	e.ByHost = m.killCause != nil
	killCause, panicInfo := m.killCause, m.panicInfo
	m.mu.Unlock()

	var err error
	switch {
	case e.Reason == ReasonCrashed:
		err = fmt.Errorf("vm: qemu crashed (%s, no SHUTDOWN event)%s", e.Status, m.tails(e))
	case killCause != nil && killCause != errStopped && e.Reason == ReasonKilled:
		err = fmt.Errorf("vm: qemu killed: %w", killCause)
	case drainErr != nil:
		err = drainErr
	}
	m.exit, m.waitErr = e, err
	m.log.Debug("qemu exited", "reason", e.Reason, "shutdown", e.ShutdownReason, "status", e.Status, "panic", panicInfo)
	if m.runDir != "" {
		os.RemoveAll(m.runDir)
	}
	close(m.done)
}

func (m *Machine) tails(e *Exit) string {
	var s string
	if t := strings.TrimSpace(e.Stderr); t != "" {
		s += "\nqemu stderr:\n" + t
	}
	if t := strings.TrimSpace(e.Console); t != "" {
		s += "\nconsole tail:\n" + t
	}
	return s
}

// exitReason classifies an exit. The first SHUTDOWN event wins over a later
// host kill, so a guest that powered off is a shutdown even if Stop raced it.
func exitReason(shutdown string, panicked, killedByHost bool) string {
	if panicked || shutdown == "guest-panic" {
		return ReasonGuestPanicked
	}
	switch shutdown {
	case "guest-shutdown":
		return ReasonShutdown
	case "guest-reset", "subsystem-reset":
		return ReasonGuestReset
	case "host-error":
		return ReasonCrashed
	case "host-qmp-quit", "host-qmp-system-reset", "host-signal", "host-ui":
		return ReasonKilled
	case "":
		if killedByHost {
			return ReasonKilled
		}
		return ReasonCrashed
	}
	return ReasonShutdown // other reasons (snapshot-load, ...) are orderly
}

func (m *Machine) setKillCause(err error) {
	m.mu.Lock()
	if m.killCause == nil {
		m.killCause = err
	}
	m.mu.Unlock()
}

// kill SIGKILLs QEMU (and its process group) unless it was already reaped.
func (m *Machine) kill() {
	select {
	case <-m.procDone:
		return
	default:
	}
	// The group kill only while QEMU is unreaped, so its pid (= pgid) cannot
	// have been reused; Process.Kill is pidfd-based and always safe.
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	_ = m.cmd.Process.Kill()
}

// Results returns the bytes the guest writes to the result port. Reads
// block until data arrives; EOF comes once QEMU has exited and everything
// the guest wrote has been read, including writes made just before
// poweroff. The data is buffered, so the caller need not read for QEMU to
// make progress or for Wait to return.
func (m *Machine) Results() io.Reader { return m.results }

// Wait blocks until QEMU exits and its sockets are drained, then says why.
// The error is nil for guest shutdown, guest reset/panic and Stop; it is
// set when QEMU crashed (with stderr and console tails) or was killed by
// context cancellation.
func (m *Machine) Wait() (*Exit, error) {
	<-m.done
	return m.exit, m.waitErr
}

// Stop asks QEMU to quit over QMP and SIGKILLs it if it is still running
// after grace (at once if grace <= 0). It returns once QEMU is gone. It is
// idempotent and safe after exit.
func (m *Machine) Stop(grace time.Duration) error {
	select {
	case <-m.done:
		return nil
	default:
	}
	m.setKillCause(errStopped)
	m.mu.Lock()
	sendQuit := !m.stopIssued && grace > 0 && m.mon != nil
	m.stopIssued = true
	m.mu.Unlock()
	if sendQuit {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		quit := make(chan error, 1)
		go func() {
			_, err := m.run("quit")
			quit <- err
		}()
		select {
		case err := <-quit:
			if err != nil {
				// A broken pipe or EOF after quit is normal: QEMU exits
				// before or while replying.
				m.log.Debug("qmp quit", "err", err)
			}
			select {
			case <-m.procDone:
			case <-timer.C:
			}
		case <-m.procDone:
		case <-timer.C:
		}
	} else if grace > 0 {
		select {
		case <-m.procDone:
		case <-time.After(grace):
		}
	}
	m.kill()
	<-m.done
	return nil
}

// CommandLine returns the QEMU command line, quoted for a POSIX shell. It
// expects fds 3 and 4 (QMP, result port), so it documents rather than
// reproduces a run.
func (m *Machine) CommandLine() string { return shellQuote(m.argv) }

// Pid returns QEMU's process id.
func (m *Machine) Pid() int { return m.cmd.Process.Pid }

// FindQEMU returns the path of the arch's default QEMU binary, or an error
// naming the Debian package that has it: runs check it before they fetch
// or build anything.
func FindQEMU(arch string) (string, error) {
	c := Config{Arch: arch}
	qemu := c.qemuBinary()
	if qemu == "" {
		_, err := c.Args() // reports the bad arch
		return "", err
	}
	return lookQEMU(qemu)
}

func lookQEMU(qemu string) (string, error) {
	path, err := exec.LookPath(qemu)
	if err != nil {
		pkg := map[string]string{"qemu-system-x86_64": "qemu-system-x86", "qemu-system-aarch64": "qemu-system-arm"}[qemu]
		if pkg == "" {
			return "", fmt.Errorf("vm: qemu binary: %w", err)
		}
		return "", fmt.Errorf("vm: %s not found on PATH: install Debian's %s (apt-get install %s)", qemu, pkg, pkg)
	}
	return path, nil
}
