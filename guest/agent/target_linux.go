package agent

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ioctl interface of /dev/klpt_target; mirrors kmod/src/klpt_uapi.h,
// which TestUAPI holds it to.
const (
	iocCall    = 0x6b01 // _IO('k', 1)
	iocPark    = 0x6b02
	iocRelease = 0x6b03
	iocParked  = 0x6b04
	iocKStart  = 0x6b05
	iocKInfo   = 0x6b06
	iocKStop   = 0x6b07
	iocChain   = 0x6b08
	iocSpin    = 0x6b09

	chainMax = 4 // KLPT_CHAIN_MAX: versions a chain call reports

	klptSlots = 16 // KLPT_SLOTS: parking slots, released one by one
)

// klptCall mirrors struct klpt_call.
type klptCall struct {
	T0, T1                       uint64
	Before, After, Version, Mode int32
	Slot, Entries                int32
}

// klptChainCall mirrors struct klpt_chain_call.
type klptChainCall struct {
	T0, T1              uint64
	Before, After       int32
	SpinUs, Cross, Park int32
	Mode, Slot          int32
	N                   int32
	V0, V1, V2, V3      int32
	Entries, Pad        int32
}

// versions are the versions along the chain, outer first.
func (c klptChainCall) versions() []int {
	all := []int{int(c.V0), int(c.V1), int(c.V2), int(c.V3)}
	return all[:min(int(c.N), chainMax)]
}

// kthreadInfo mirrors struct klpt_kthread_info.
type kthreadInfo struct {
	PID, Alive, Wakes, Version int32
	Woke                       uint64
	Rounds                     uint64
	PendingResched             uint64
	PendingFreeze              uint64
}

type target struct{ fd int }

// openTarget opens the device of a target module (klpt_target, or one of
// its twins).
func openTarget(module string) (*target, error) {
	dev := "/dev/" + module
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dev, err)
	}
	return &target{fd: fd}, nil
}

func (t *target) ioctl(cmd, arg uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(t.fd), cmd, arg)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// call runs klpt_func() once.
func (t *target) call() (klptCall, error) {
	var c klptCall
	_, err := t.ioctl(iocCall, uintptr(unsafe.Pointer(&c)))
	return c, err
}

// park sleeps inside klpt_park_func() until slot is released.
func (t *target) park(mode, slot int32) (klptCall, error) {
	c := klptCall{Mode: mode, Slot: slot}
	_, err := t.ioctl(iocPark, uintptr(unsafe.Pointer(&c)))
	return c, err
}

// chain runs klpt_chain_outer() once: it spins spinUs on the CPU, then
// calls klpt_chain_inner() (klpt_target's with cross), which sleeps in
// slot when park is set.
func (t *target) chain(c klptChainCall) (klptChainCall, error) {
	_, err := t.ioctl(iocChain, uintptr(unsafe.Pointer(&c)))
	return c, err
}

func (t *target) release(slot int) error { _, err := t.ioctl(iocRelease, uintptr(slot)); return err }

func (t *target) parked(slot int) (int, error) { return t.ioctl(iocParked, uintptr(slot)) }

// kthreadStart starts klpt_target's kernel thread, parked in slot.
func (t *target) kthreadStart(slot int) (int, error) { return t.ioctl(iocKStart, uintptr(slot)) }

// spinStart starts klpt_target's kernel thread spinning outside the
// patched functions, with cond_resched() and freezable sleeps between its
// spins.
func (t *target) spinStart() (int, error) { return t.ioctl(iocSpin, 0) }

func (t *target) kthreadInfo() (kthreadInfo, error) {
	var k kthreadInfo
	_, err := t.ioctl(iocKInfo, uintptr(unsafe.Pointer(&k)))
	return k, err
}

func (t *target) kthreadStop() error { _, err := t.ioctl(iocKStop, 0); return err }

func (t *target) close() { unix.Close(t.fd) }
