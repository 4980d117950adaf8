package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// PortName is the virtio-serial port the results travel on, guest to host,
// and the host's replies back.
const PortName = "org.klptest.results"

// Replies of the host on the result port, to an ask event or a paused
// stall.
const (
	ReplyGo     = "go"     // shell-on-fail: the case passed, go on
	ReplyShell  = "shell"  // shell-on-fail: the case failed, open the shell
	ReplyResume = "resume" // --vmcore: the memory dump is taken, release the stall
)

// Paths inside the initramfs that the host fills and the agent reads.
const (
	// ModuleDir holds klptest's .ko files: not /lib/modules, which
	// u-root's init would load all by itself.
	ModuleDir = "/klptest/modules"
	// BootModuleDir holds the kernel's own driver modules the agent needs
	// (the result port's, on kernels that build them as modules); the
	// agent loads them in name order before anything else.
	BootModuleDir = "/klptest/boot-modules"
	// KselftestRoot is the Debian userland the kernel's own selftest
	// scripts run in, chrooted; the selftests' directory is KselftestDir
	// inside it.
	KselftestRoot = "/klptest/kselftest"
	KselftestDir  = "/kselftest"
)

// SuiteKselftest as BootParams.Suite makes a boot run the kernel's own
// selftests (without klptest's modules) instead of klptest's cases.
const SuiteKselftest = "kselftest"

// BootParams are the klptest.* parameters on the kernel command line: all
// the host tells the agent before the stream opens. Zero values are left
// off the command line and mean the agent's defaults.
type BootParams struct {
	Cases        []string // klptest.cases: the cases to run, in order
	StormTasks   int      // klptest.storm_tasks: fork-storm's task count
	StormSeconds int      // klptest.storm_seconds: fork-storm's length
	Vmcore       bool     // klptest.vmcore: hold a stall for the host's memory dump
	Suite        string   // klptest.suite: SuiteKselftest, or "" for klptest's cases
	// BenchSnapshots (task counts, "100,1000") makes the boot measure
	// snapshot costs instead of running cases.
	BenchSnapshots string // klptest.bench_snapshots
	Shell          bool   // klptest.shell: load the modules, hand over the console's shell
	ShellOnFail    bool   // klptest.shell_on_fail: ask the host after each case
	Debug          bool   // klptest.debug: keep the VM up after the run
}

// The parameters' names, in the order Args writes them.
const (
	paramCases          = "klptest.cases"
	paramStormTasks     = "klptest.storm_tasks"
	paramStormSeconds   = "klptest.storm_seconds"
	paramVmcore         = "klptest.vmcore"
	paramSuite          = "klptest.suite"
	paramBenchSnapshots = "klptest.bench_snapshots"
	paramShell          = "klptest.shell"
	paramShellOnFail    = "klptest.shell_on_fail"
	paramDebug          = "klptest.debug"
)

// Args returns the parameters as kernel command line words.
func (p BootParams) Args() []string {
	var out []string
	str := func(name, v string) {
		if v != "" {
			out = append(out, name+"="+v)
		}
	}
	num := func(name string, v int) {
		if v != 0 {
			str(name, strconv.Itoa(v))
		}
	}
	flag := func(name string, v bool) {
		if v {
			str(name, "1")
		}
	}
	str(paramCases, strings.Join(p.Cases, ","))
	num(paramStormTasks, p.StormTasks)
	num(paramStormSeconds, p.StormSeconds)
	flag(paramVmcore, p.Vmcore)
	str(paramSuite, p.Suite)
	str(paramBenchSnapshots, p.BenchSnapshots)
	flag(paramShell, p.Shell)
	flag(paramShellOnFail, p.ShellOnFail)
	flag(paramDebug, p.Debug)
	return out
}

// ParseBootParams reads the klptest.* parameters from a kernel command
// line (/proc/cmdline as read at boot). Other words are the kernel's and
// are ignored; a klptest.* word this version does not know, or a value
// that does not parse, is an error, since host and agent are built from
// one source and a mismatch means a stale initramfs.
func ParseBootParams(cmdline string) (BootParams, error) {
	var p BootParams
	var errs []string
	for _, w := range strings.Fields(cmdline) {
		name, v, _ := strings.Cut(w, "=")
		if !strings.HasPrefix(name, "klptest.") {
			continue
		}
		num := func(dst *int) {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Sprintf("%s=%q is not a count", name, v))
				return
			}
			*dst = n
		}
		flag := func(dst *bool) {
			switch v {
			case "1":
				*dst = true
			case "0":
				*dst = false
			default:
				errs = append(errs, fmt.Sprintf("%s=%q is not 0 or 1", name, v))
			}
		}
		switch name {
		case paramCases:
			p.Cases = nil
			if v != "" {
				p.Cases = strings.Split(v, ",")
			}
		case paramStormTasks:
			num(&p.StormTasks)
		case paramStormSeconds:
			num(&p.StormSeconds)
		case paramVmcore:
			flag(&p.Vmcore)
		case paramSuite:
			p.Suite = v
		case paramBenchSnapshots:
			p.BenchSnapshots = v
		case paramShell:
			flag(&p.Shell)
		case paramShellOnFail:
			flag(&p.ShellOnFail)
		case paramDebug:
			flag(&p.Debug)
		default:
			errs = append(errs, fmt.Sprintf("unknown parameter %s", name))
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("kernel command line: %s (is the initramfs older than klptest?)", strings.Join(errs, "; "))
	}
	return p, nil
}
