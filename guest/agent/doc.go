// Package agent is klptest's guest side: it runs inside the VM as u-root's
// uinit, loads klptest's modules, runs the cases, samples every task's patch
// state, and streams cases.Event JSON lines to the host over the virtio-serial
// port named PortName. It never decides pass or fail: the host does.
//
// It reads the kernel command line parameters klptest.cases (comma-separated
// case names) and klptest.debug (keep the VM up with a shell after the run).
package agent

// PortName is the virtio-serial port the results travel on.
const PortName = "org.klptest.results"

// ModuleDir is where the initramfs keeps klptest's .ko files: not
// /lib/modules, which u-root's init would load all by itself.
const ModuleDir = "/klptest/modules"

// BootModuleDir holds the kernel's own driver modules the agent needs (the
// result port's, on kernels that build them as modules); the agent loads
// them in name order before anything else.
const BootModuleDir = "/klptest/boot-modules"

// WorkerArg as argv[1] makes the agent binary a worker process.
const WorkerArg = "klptest-worker"

// SleeperArg as argv[1] makes the agent binary a sleeper process.
const SleeperArg = "klptest-sleeper"

// LivepatchName is the livepatch module's name, as in /sys/kernel/livepatch.
const LivepatchName = "klpt_patch"

// KselftestRoot is the Debian userland the kernel's own selftest scripts
// run in, chrooted (klptest run --suite kselftest); the selftests'
// directory is KselftestDir inside it.
const (
	KselftestRoot = "/klptest/kselftest"
	KselftestDir  = "/kselftest"
)
