// Package vm owns one QEMU process per run: its command line, its QMP
// monitor, its console log and its result port.
//
// A run is: Config.Args builds the argv (pure, golden-tested), Start launches
// QEMU paused, connects QMP and subscribes to events before resuming the
// guest (so no event is lost), Results streams what the guest agent writes
// to the virtio-serial port "org.klptest.results", and Wait reports why QEMU
// exited (clean shutdown, panic, killed, crashed). QEMU never outlives the
// caller: it dies with the context, with Stop, and with the calling process
// (Pdeathsig).
package vm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/klptest/klptest/wire"
)

// File descriptors QEMU inherits through exec.Cmd.ExtraFiles (ExtraFiles[i]
// becomes fd 3+i). Fixed numbers keep Args pure: no socket path or temp dir
// appears in the argv.
const (
	qmpFD    = 3 // listening unix socket for QMP (server=on)
	resultFD = 4 // connected end of a socketpair for the result port
)

// Config describes one QEMU run.
type Config struct {
	Arch       string   // "x86_64" or "arm64" ("amd64" and "aarch64" are accepted too)
	QEMU       string   // QEMU binary; "" = default for Arch (qemu-system-x86_64 / qemu-system-aarch64)
	Kernel     string   // bzImage / Image path
	Initrd     string   // initramfs cpio path; "" = none
	Cmdline    []string // extra kernel command line args (appended after the devices' own args)
	MemoryMB   int      // 0 = 1024
	CPUs       int      // 0 = 2
	Accel      string   // "tcg" or "kvm" — already resolved (see DetectAccel, CheckAccel); "" = "tcg"
	ConsoleLog string   // file the serial console is written to; Start uses a temp file if ""
	// Interactive puts the serial console on QEMU's stdin and stdout (Start
	// connects them to Stdin and Stdout), still logged to ConsoleLog:
	// klptest shell. Pass the terminal's *os.File, so that QEMU sees a
	// terminal. Not part of the argv.
	Interactive bool
	Stdin       io.Reader
	Stdout      io.Writer

	// Logger receives verbose (debug level) logs: command line, QMP events,
	// exit. nil = no logs. Not part of the argv.
	Logger *slog.Logger
}

// archSpec holds what differs between guest architectures.
type archSpec struct {
	qemu       string // default binary
	machine    string // -M for tcg
	machineKVM string // -M for kvm
	tcgCPU     string // -cpu for tcg
	tcgAccel   string // -accel for tcg, when not plain "tcg"; never used under kvm
	console    string // serial console tty
	pvpanic    string // pvpanic device model
	keyboard   bool   // the machine has a PS/2 keyboard (i8042), for SysRq
}

var archs = map[string]archSpec{
	// q35 rather than pc: PCIe like arm64 virt, the modern default, and the
	// same machine the KVM probe runs; boot time is the same for -kernel.
	//
	// thread=single: with multi-threaded TCG, QEMU 7.2 mis-executes the
	// guest kernel's int3-based live code patching (text_poke_bp, which
	// ftrace and so livepatch use): an "Oops: int3" at irqentry_exit+0x1c
	// killed 3 of 13 patch runs on Debian 6.12, and 0 of 8 with one TCG
	// thread. An emulator bug must not read as a kernel failure. It is a
	// TCG bug, so it is tcgAccel: under KVM the vCPUs run the guest's code
	// on the host's CPUs, one host thread each, and Args leaves it out.
	"x86_64": {
		qemu:       "qemu-system-x86_64",
		machine:    "q35",
		machineKVM: "q35",
		tcgCPU:     "max",
		tcgAccel:   "tcg,thread=single",
		console:    "ttyS0",
		pvpanic:    "pvpanic",
		keyboard:   true,
	},
	// pauth-impdef: the architected QARMA pointer-auth algorithm is very
	// slow under TCG. gic-version=max under KVM: the host GIC may lack v2
	// emulation.
	"arm64": {
		qemu:       "qemu-system-aarch64",
		machine:    "virt",
		machineKVM: "virt,gic-version=max",
		tcgCPU:     "max,pauth-impdef=on",
		console:    "ttyAMA0",
		pvpanic:    "pvpanic-pci",
	},
}

// normArch maps accepted spellings to the archs keys.
func normArch(arch string) string {
	switch arch {
	case "x86_64", "amd64":
		return "x86_64"
	case "arm64", "aarch64":
		return "arm64"
	}
	return arch
}

// device is one piece of the VM: it owns its QEMU args and the kernel args
// it needs (style of lmb/vimto).
type device interface {
	QEMUArgs() []string
	KArgs() []string
}

// serialConsole writes the first serial port to a file, or, interactive,
// connects it to QEMU's stdio and logs it to the file. signal=off: a ^C
// typed into the guest's shell goes to the guest, not to QEMU; mux=on gives
// the person QEMU's escape, Ctrl-A x, to kill a VM that no longer answers.
type serialConsole struct {
	path        string
	tty         string
	interactive bool
}

func (d serialConsole) QEMUArgs() []string {
	dev := "file,id=con,path=" + qemuOptEscape(d.path)
	if d.interactive {
		dev = "stdio,id=con,mux=on,signal=off,logfile=" + qemuOptEscape(d.path)
	}
	return []string{"-chardev", dev, "-serial", "chardev:con"}
}

func (d serialConsole) KArgs() []string { return []string{"console=" + d.tty} }

// qmpMonitor is the QMP control monitor on an inherited, already listening
// socket: QEMU gets it bound, so dialing its path can never race QEMU's
// startup.
type qmpMonitor struct{ fd int }

func (d qmpMonitor) QEMUArgs() []string {
	return []string{
		"-chardev", "socket,id=qmp,fd=" + strconv.Itoa(d.fd) + ",server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
	}
}

func (d qmpMonitor) KArgs() []string { return nil }

// resultPort is the named virtio-serial port the guest agent streams JSON
// lines to, backed by an inherited connected socket (no listen/accept race).
type resultPort struct {
	fd   int
	name string
}

func (d resultPort) QEMUArgs() []string {
	return []string{
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", "socket,id=results,fd=" + strconv.Itoa(d.fd),
		"-device", "virtserialport,bus=vser0.0,chardev=results,name=" + qemuOptEscape(d.name),
	}
}

func (d resultPort) KArgs() []string { return nil }

// panicHandling turns any guest panic into a QEMU exit instead of a hang or
// a reboot loop: panic=-1 reboots at once, -no-reboot turns the reboot into
// SHUTDOWN(reason guest-reset). If the guest has a pvpanic driver, QEMU
// instead emits GUEST_PANICKED and shuts down (panic=shutdown).
type panicHandling struct{ pvpanic string }

func (d panicHandling) QEMUArgs() []string {
	return []string{"-no-reboot", "-action", "panic=shutdown", "-device", d.pvpanic}
}

func (d panicHandling) KArgs() []string { return []string{"panic=-1"} }

// devices lists the VM's devices in argv order.
func (c Config) devices(spec archSpec) []device {
	return []device{
		serialConsole{path: c.ConsoleLog, tty: spec.console, interactive: c.Interactive},
		qmpMonitor{fd: qmpFD},
		resultPort{fd: resultFD, name: wire.PortName},
		panicHandling{pvpanic: spec.pvpanic},
	}
}

// KernelCmdline returns the kernel command line: the devices' own args, then
// c.Cmdline.
func (c Config) KernelCmdline() string {
	var kargs []string
	if spec, ok := archs[normArch(c.Arch)]; ok {
		for _, d := range c.devices(spec) {
			kargs = append(kargs, d.KArgs()...)
		}
	}
	kargs = append(kargs, c.Cmdline...)
	return strings.Join(kargs, " ")
}

// Args returns the full QEMU argv (without argv[0]). It is pure: it reads
// no environment and touches no files. The argv starts QEMU paused (-S);
// Start resumes it once QMP events are subscribed. It expects the QMP
// listener as fd 3 and the result socket as fd 4, as Start provides.
func (c Config) Args() ([]string, error) {
	spec, ok := archs[normArch(c.Arch)]
	if !ok {
		return nil, fmt.Errorf("vm: unsupported arch %q (want x86_64 or arm64)", c.Arch)
	}
	if c.Kernel == "" {
		return nil, errors.New("vm: no kernel")
	}
	if c.ConsoleLog == "" {
		return nil, errors.New("vm: no console log path")
	}
	if c.MemoryMB < 0 || c.CPUs < 0 {
		return nil, fmt.Errorf("vm: bad memory %d MiB or CPU count %d", c.MemoryMB, c.CPUs)
	}
	mem, cpus := c.MemoryMB, c.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}

	// The accel's differences, all here: TCG emulates spec's CPU model and
	// may need extra -accel options (tcgAccel); KVM runs -cpu host, the
	// host's own CPU with all its features, and -accel kvm alone, so its
	// vCPUs run in parallel. Whether KVM can run c.Arch at all is
	// CheckAccel's (Start calls it): Args stays pure and host-independent.
	var machine, cpu string
	switch c.Accel {
	case "", "tcg":
		machine, cpu = spec.machine, spec.tcgCPU
	case "kvm":
		machine, cpu = spec.machineKVM, "host"
	default:
		return nil, fmt.Errorf("vm: unsupported accel %q (want tcg or kvm)", c.Accel)
	}
	accel := c.Accel
	if accel == "" {
		accel = "tcg"
	}
	if accel == "tcg" && spec.tcgAccel != "" {
		accel = spec.tcgAccel
	}

	args := []string{
		"-S", // paused until QMP is connected and subscribed
		"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
		"-M", machine, "-accel", accel, "-cpu", cpu,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-kernel", c.Kernel,
	}
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	args = append(args, "-append", c.KernelCmdline())
	for _, d := range c.devices(spec) {
		args = append(args, d.QEMUArgs()...)
	}
	return args, nil
}

// qemuBinary returns the QEMU binary for c.
func (c Config) qemuBinary() string {
	if c.QEMU != "" {
		return c.QEMU
	}
	return archs[normArch(c.Arch)].qemu
}

// qemuOptEscape escapes a value inside a QEMU option string, where ","
// separates options and ",," is a literal comma.
func qemuOptEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }
