package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/wire"
)

// Main is the agent's entry point as uinit; it never returns normally: the
// VM powers off.
func Main() {
	if len(os.Args) > 1 {
		// Name the helper processes after their role, not "exe", so that
		// violations and forensics name them readably.
		if role, ok := strings.CutPrefix(os.Args[1], "klptest-"); ok {
			nameThreads("klpt-" + role)
		}
		switch os.Args[1] {
		case WorkerArg:
			os.Exit(Worker(os.Args[2:]))
		case SleeperArg:
			os.Exit(Sleeper())
		case ParkerArg:
			os.Exit(Parker(os.Args[2:]))
		case StormArg:
			os.Exit(Storm(os.Args[2:]))
		case StormChildArg:
			os.Exit(StormChild(os.Args[2:]))
		case TasksArg:
			os.Exit(Tasks(os.Args[2:]))
		}
	}
	err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "klptest-agent:", err)
	}
	if params().Debug {
		fmt.Fprintln(os.Stderr, "klptest-agent: klptest.debug=1, leaving the VM up")
		return
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// cmdline is the kernel command line as read at start: later reads of
// /proc/cmdline go through cmdline_proc_show(), which the cases' livepatch
// replaces.
var cmdline = sync.OnceValue(func() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return string(b)
})

// bootParams are what the host asked of this boot, parsed once from the
// command line as read at start.
var bootParams = sync.OnceValues(func() (wire.BootParams, error) {
	return wire.ParseBootParams(cmdline())
})

// params returns the boot's parameters; run reports a command line that
// does not parse before anything reads them.
func params() wire.BootParams {
	p, _ := bootParams()
	return p
}

func mounts() {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"debugfs", "/sys/kernel/debug", "debugfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		// EBUSY: u-root's init mounted it already.
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Fprintf(os.Stderr, "klptest-agent: mount %s: %v\n", m.dst, err)
		}
	}
}

func readTaint() uint64 {
	b, _ := os.ReadFile("/proc/sys/kernel/tainted")
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}

func run() error {
	start := now()
	mounts()
	cmdline() // before any livepatch replaces what /proc/cmdline shows
	// Every SysRq function, for the host's keys when the agent hangs:
	// Debian's default mask (0x1b6) leaves out the task dumps.
	os.WriteFile("/proc/sys/kernel/sysrq", []byte("1"), 0)
	boot, _ := filepath.Glob(filepath.Join(wire.BootModuleDir, "*.ko"))
	sort.Strings(boot)
	for _, m := range boot {
		if err := loadModule(m); err != nil {
			return fmt.Errorf("load driver: %w", err)
		}
	}
	e, err := openPort(15 * time.Second)
	if err != nil {
		return err
	}
	defer e.close()

	bp, bpErr := bootParams()
	if bpErr != nil {
		e.emit(wire.Event{Type: wire.EvError, Error: bpErr.Error()})
		e.emit(wire.Event{Type: wire.EvDone})
		return bpErr
	}
	names := bp.Cases
	if len(names) == 0 {
		names = []string{"patch"}
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	e.emit(wire.Event{Type: wire.EvHello, Hello: &wire.Hello{
		Release:    unix.ByteSliceToString(uts.Release[:]),
		Machine:    unix.ByteSliceToString(uts.Machine[:]),
		CPUs:       runtime.NumCPU(),
		Taint:      readTaint(),
		Cases:      names,
		KernelText: kernelText(),
		AgentStart: start,
		Sent:       now(),
	}})

	km, err := openKmsg()
	if err != nil {
		e.emit(wire.Event{Type: wire.EvError, Error: err.Error()})
	}
	drain := func(caseName string) {
		if km != nil {
			if lines := km.drain(); len(lines) > 0 {
				e.emit(wire.Event{Type: wire.EvKmsg, Case: caseName, Kmsg: lines})
			}
		}
	}

	// The kernel's own selftests run on a kernel without klptest's
	// targets and livepatches, as they would anywhere else: only the
	// probe, whose snapshots let the host judge their transitions.
	own := residentModules(table.Modules)
	if bp.Suite == wire.SuiteKselftest {
		own = probeModules(table.Modules)
	}
	for _, m := range own {
		if err := loadModule(filepath.Join(wire.ModuleDir, m+".ko")); err != nil {
			e.emit(wire.Event{Type: wire.EvError, Error: err.Error()})
			drain("")
			return err
		}
	}
	drain("")

	if bp.Shell {
		err := shell(shellBanner("a shell in the test VM (" + unix.ByteSliceToString(uts.Release[:]) + ")"))
		if err != nil {
			e.emit(wire.Event{Type: wire.EvError, Error: err.Error()})
		}
		e.emit(wire.Event{Type: wire.EvDone})
		return e.close()
	}
	if spec := bp.BenchSnapshots; spec != "" {
		if err := benchSnapshotCost(e, spec); err != nil {
			e.emit(wire.Event{Type: wire.EvError, Error: err.Error()})
		}
		drain("")
		e.emit(wire.Event{Type: wire.EvDone})
		return e.close()
	}
	shellOnFail := bp.ShellOnFail

	cs, err := cases.Lookup(names)
	if err != nil {
		e.emit(wire.Event{Type: wire.EvError, Error: err.Error()})
		return err
	}
	for _, c := range cs {
		r := &caseRun{c: c, e: e, km: km, shellOnFail: shellOnFail}
		r.ev(wire.Event{Type: wire.EvCaseStart, Start: &wire.CaseStart{T: now(), Taint: readTaint()}})
		if c.Kselftest != "" {
			runKselftest(r)
		} else {
			runCase(r)
		}
		drain(c.Name)
		r.ev(wire.Event{Type: wire.EvCaseEnd, CaseEnd: &wire.CaseEnd{T: now(), Taint: readTaint(), Skip: r.skip}})
		if shellOnFail {
			r.askShell()
		}
	}
	drain("")
	e.emit(wire.Event{Type: wire.EvDone})
	return e.close()
}

// kallsymsAddr returns sym's address from /proc/kallsyms (a symbol of the
// kernel's own or of a loaded module's), looking at most lines lines
// (0: all); ok is false when it is not there.
func kallsymsAddr(sym string, lines int) (addr string, ok bool) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan() && (lines == 0 || n < lines); n++ {
		if fs := strings.Fields(sc.Text()); len(fs) >= 3 && fs[2] == sym {
			return fs[0], true
		}
	}
	return "", false
}

// kernelHas says whether /proc/kallsyms names sym.
func kernelHas(sym string) bool {
	_, ok := kallsymsAddr(sym, 0)
	return ok
}

// kernelText returns _text's address from /proc/kallsyms, or "". It is
// among the first lines, after the per-CPU symbols, so the scan is short.
func kernelText() string {
	addr, _ := kallsymsAddr("_text", 100000)
	return addr
}

// commLen is the longest name a task has (TASK_COMM_LEN less the NUL).
const commLen = 15

// nameThreads names every thread of this process. PR_SET_NAME names only
// the calling thread, and the Go runtime started others before main ran
// (and may move the main goroutine onto one of them: a parker asleep in
// the kernel there would go by the name "exe"); a thread started
// later copies the name of the thread that clones it, so once every
// thread has the name, every later one has it too. A thread cloned while
// the directory was read is caught by the next pass.
func nameThreads(name string) {
	if len(name) > commLen {
		name = name[:commLen] // as the kernel would cut it
	}
	for pass := 0; pass < 10; pass++ {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		renamed := 0
		for _, tid := range tids {
			comm := filepath.Join("/proc/self/task", tid.Name(), "comm")
			if b, err := os.ReadFile(comm); err == nil && strings.TrimSpace(string(b)) == name {
				continue
			}
			if os.WriteFile(comm, []byte(name), 0) == nil {
				renamed++
			}
		}
		if renamed == 0 {
			return
		}
	}
}
