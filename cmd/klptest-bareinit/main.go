// Command klptest-bareinit is the init of klptest bench's bare boot: it
// prints one line on the console and powers off, nothing else, so that the
// time from QEMU's start to its line is the floor under every boot.
package main

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/guest/bare"
)

func main() {
	// The kernel opened /dev/console as fds 0-2 for init.
	os.Stdout.WriteString(bare.Line + "\n")
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
