// Package agent is klptest's guest side: it runs inside the VM as u-root's
// uinit, loads klptest's modules, runs the cases, samples every task's patch
// state, and streams wire.Event JSON lines to the host over the
// virtio-serial port wire.PortName. It never decides pass or fail: the host
// does.
//
// What the host asks of a boot comes on the kernel command line, as
// wire.BootParams (every klptest.* parameter); the host's replies come back
// on the result port.
package agent

// WorkerArg as argv[1] makes the agent binary a worker process.
const WorkerArg = "klptest-worker"

// SleeperArg as argv[1] makes the agent binary a sleeper process.
const SleeperArg = "klptest-sleeper"
