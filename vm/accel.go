package vm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// probeTimeout bounds one KVM probe. A working probe exits in ~0.1 s.
const probeTimeout = 3 * time.Second

var (
	accelMu    sync.Mutex
	accelCache = map[string]*accelEntry{}
)

type accelEntry struct {
	once  sync.Once
	accel string
}

// DetectAccel returns "kvm" only if KVM really works for arch with the qemu
// binary ("" = default for arch), else "tcg". /dev/kvm existing is not
// enough (nested KVM can abort QEMU or kill the guest), so it boots a tiny
// firmware under `-accel kvm -cpu host` that switches to 64-bit long mode
// (x86_64) or calls PSCI SYSTEM_OFF (arm64) and checks QEMU's exit status.
// It never takes more than a few seconds and the answer is cached for the
// process.
func DetectAccel(qemu, arch string) string {
	arch = normArch(arch)
	spec, ok := archs[arch]
	if !ok || CheckAccel("kvm", arch) != nil {
		return "tcg"
	}
	if qemu == "" {
		qemu = spec.qemu
	}
	accelMu.Lock()
	e := accelCache[qemu+"\x00"+arch]
	if e == nil {
		e = &accelEntry{}
		accelCache[qemu+"\x00"+arch] = e
	}
	accelMu.Unlock()
	e.once.Do(func() {
		e.accel = "tcg"
		if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
			f.Close()
			if probeAccel(qemu, arch, "kvm") == nil {
				e.accel = "kvm"
			}
		}
	})
	return e.accel
}

// CheckAccel reports an accel that cannot run arch's guests on this host:
// KVM runs only the host's own architecture (an x86_64 host cannot run an
// arm64 guest under KVM, nor the reverse). DetectAccel never picks such a
// pair; this catches one asked for by name (a matrix cell's accel: kvm),
// before anything is downloaded or built and again before QEMU starts. It
// does not check that KVM works: that is DetectAccel's probe.
func CheckAccel(accel, arch string) error {
	if accel == "kvm" && normArch(arch) != hostArch() {
		return fmt.Errorf("vm: kvm cannot run a %s guest on this %s host: KVM runs only the host's own architecture (use tcg, or leave accel out to detect)", normArch(arch), hostArch())
	}
	return nil
}

func hostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "arm64"
	}
	return runtime.GOARCH
}

// probeAccel boots the probe firmware for arch under accel and returns nil
// if the guest code ran to completion. Split from DetectAccel so a test can
// check the firmware under tcg.
func probeAccel(qemu, arch, accel string) error {
	dir, err := os.MkdirTemp("", "klptest-kvmprobe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fw := filepath.Join(dir, "fw.bin")

	cpu := "host"
	if accel != "kvm" {
		cpu = "max"
	}
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", accel, "-cpu", cpu, "-m", "64", "-bios", fw}
	var want int // QEMU exit status proving the guest finished
	switch arch {
	case "x86_64":
		// isa-debug-exit makes QEMU exit with (value<<1)|1: 99 for the
		// 0x31 the firmware writes once in long mode. A triple fault would
		// reset, which -no-reboot turns into exit status 0.
		err = os.WriteFile(fw, x86ProbeFirmware(), 0o600)
		args = append(args, "-M", "q35", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
		want = 99
	case "arm64":
		// No debug-exit device on virt: PSCI SYSTEM_OFF makes QEMU exit 0,
		// a guest that does not run hangs until the timeout.
		err = os.WriteFile(fw, arm64ProbeFirmware(), 0o600)
		machine := "virt,gic-version=max"
		if accel != "kvm" {
			machine = "virt"
		}
		args = append(args, "-M", machine)
		want = 0
	default:
		return errors.New("vm: no probe firmware for " + arch)
	}
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return errors.New("vm: kvm probe timed out")
	}
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == want {
		return nil
	}
	if err == nil {
		err = errors.New("unexpected exit status 0")
	}
	return fmt.Errorf("vm: %s probe failed: %w: %s", accel, err, strings.TrimSpace(string(out)))
}

// x86ProbeFirmware returns a 64 KiB BIOS image (QEMU wants a multiple of
// 64 KiB). Source: testdata/kvmprobe/probe_x86.S. From the reset vector it
// loads a GDT, enters protected mode, builds identity page tables, enables
// long mode and paging, then writes 0x31 to isa-debug-exit using a 64-bit
// immediate, which only decodes as intended in long mode.
func x86ProbeFirmware() []byte {
	img := make([]byte, 64<<10)
	for i := range img {
		img[i] = 0xf4 // hlt
	}
	copy(img, x86ProbeCode)
	copy(img[0xfff0:], x86ProbeReset)
	return img
}

var x86ProbeCode = []byte{
	0xfa, 0x2e, 0x66, 0x0f, 0x01, 0x16, 0xb8, 0x00, 0x0f, 0x20, 0xc0, 0x66,
	0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea, 0x1a, 0x00, 0x0f, 0x00,
	0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0,
	0xfc, 0xbf, 0x00, 0x10, 0x00, 0x00, 0xb9, 0x00, 0x0c, 0x00, 0x00, 0x31,
	0xc0, 0xf3, 0xab, 0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00,
	0x00, 0xc7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x03, 0x30, 0x00, 0x00, 0xc7,
	0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, 0x0f, 0x20, 0xe0,
	0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f,
	0x22, 0xd8, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01,
	0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80,
	0x0f, 0x22, 0xc0, 0xea, 0x82, 0x00, 0x0f, 0x00, 0x18, 0x00, 0x48, 0xb8,
	0x00, 0x00, 0x00, 0x00, 0x31, 0x00, 0x00, 0x00, 0x48, 0xc1, 0xe8, 0x20,
	0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0x8d, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00,
	0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00,
	0x00, 0x9a, 0xaf, 0x00, 0x1f, 0x00, 0x98, 0x00, 0x0f, 0x00,
}

// ljmp $0xf000, $0 at the reset vector (image offset 0xfff0).
var x86ProbeReset = []byte{0xea, 0x00, 0x00, 0x00, 0xf0}

// arm64ProbeFirmware: PSCI SYSTEM_OFF (0x84000008) via hvc, then spin.
// Untested here (no arm64 host): under KVM the CPU starts at EL1 at the
// flash base with the MMU off, and KVM implements PSCI over hvc.
func arm64ProbeFirmware() []byte {
	insns := []uint32{
		0xd2800100, // movz x0, #0x0008
		0xf2b08000, // movk x0, #0x8400, lsl #16
		0xd4000002, // hvc  #0
		0x14000000, // b    .
	}
	b := make([]byte, 4*len(insns))
	for i, in := range insns {
		binary.LittleEndian.PutUint32(b[4*i:], in)
	}
	return b
}

var (
	qemuVersionMu sync.Mutex
	qemuVersions  = map[string]string{}
)

// QEMUVersion is the version line of the QEMU binary for arch (qemu "" =
// the default binary), e.g. "7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)".
func QEMUVersion(qemu, arch string) (string, error) {
	if qemu == "" {
		spec, ok := archs[normArch(arch)]
		if !ok {
			return "", fmt.Errorf("vm: unsupported arch %q", arch)
		}
		qemu = spec.qemu
	}
	qemuVersionMu.Lock()
	defer qemuVersionMu.Unlock()
	if v, ok := qemuVersions[qemu]; ok {
		return v, nil
	}
	out, err := exec.Command(qemu, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", qemu, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	v := strings.TrimPrefix(strings.TrimSpace(line), "QEMU emulator version ")
	qemuVersions[qemu] = v
	return v, nil
}
