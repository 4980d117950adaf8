package agent

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ioctl interface of /dev/klpt_target; mirrors kmod/src/klpt_uapi.h.
const (
	iocCall    = 0x6b01 // _IO('k', 1)
	iocPark    = 0x6b02
	iocRelease = 0x6b03
	iocParked  = 0x6b04
)

const targetDev = "/dev/klpt_target"

// klptCall mirrors struct klpt_call.
type klptCall struct {
	T0, T1                       uint64
	Before, After, Version, Mode int32
}

type target struct{ fd int }

func openTarget() (*target, error) {
	fd, err := unix.Open(targetDev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", targetDev, err)
	}
	return &target{fd: fd}, nil
}

func (t *target) ioctl(cmd uintptr, c *klptCall) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(t.fd), cmd, uintptr(unsafe.Pointer(c)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// call runs klpt_func() once.
func (t *target) call() (klptCall, error) {
	var c klptCall
	_, err := t.ioctl(iocCall, &c)
	return c, err
}

// park sleeps inside klpt_park_func() until released.
func (t *target) park(mode int32) (klptCall, error) {
	c := klptCall{Mode: mode}
	_, err := t.ioctl(iocPark, &c)
	return c, err
}

func (t *target) release() error { _, err := t.ioctl(iocRelease, nil); return err }

func (t *target) parked() (int, error) { return t.ioctl(iocParked, nil) }

func (t *target) close() { unix.Close(t.fd) }
