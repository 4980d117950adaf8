// Command guestinit is the /init of the vm package's e2e tests: it finds
// the result port by name, writes numbered lines to it, then powers off
// (KLPT_MODE unset) or exits, which panics the kernel (KLPT_MODE=panic).
// The kernel passes KLPT_MODE=... from its command line as an environment
// variable.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	portName = "org.klptest.results"
	lines    = 200
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "guestinit:", err)
	}
	if os.Getenv("KLPT_MODE") == "panic" {
		os.Exit(1) // the kernel panics: "Attempted to kill init"
	}
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintln(os.Stderr, "guestinit: poweroff:", err)
	}
	select {}
}

func run() error {
	for _, m := range []struct{ src, dst, fstype string }{
		{"devtmpfs", "/dev", "devtmpfs"},
		{"sysfs", "/sys", "sysfs"},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	dev, err := findPort()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	for i := range lines {
		if _, err := fmt.Fprintf(f, "{\"line\":%d,\"mode\":%q}\n", i, os.Getenv("KLPT_MODE")); err != nil {
			return err
		}
	}
	return f.Close()
}

// findPort polls: the port's name arrives from the host after the device
// is probed, possibly after init has started.
func findPort() (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil && strings.TrimSpace(string(b)) == portName {
				dev := "/dev/" + filepath.Base(filepath.Dir(n))
				if _, err := os.Stat(dev); err == nil {
					return dev, nil
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("port %s not found", portName)
}
