// Package pgroup runs host commands each in a process group of its own, so
// that cancelling one kills everything it started: apt's download methods,
// make's compilers, mmdebstrap's chroot. exec.CommandContext alone kills
// only the direct child, and its children outlive klptest.
package pgroup

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// waitDelay bounds the wait for a killed group's output pipes to close.
const waitDelay = 5 * time.Second

// Command is exec.CommandContext, except that the command leads a new
// process group and cancellation SIGKILLs the whole group.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group's id is the leader's pid.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	return cmd
}
