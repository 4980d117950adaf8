package kernels

import (
	"fmt"
	"os/exec"
	"runtime"
)

// Arch is the build side of one target architecture: the names the Debian
// archive, Go and kbuild give it, where a build puts the image, and which
// cross compiler builds for it from another host. (The QEMU side, machine
// and console, is vm's.)
type Arch struct {
	Name        string // klptest's name: "x86_64", "arm64"
	Deb         string // Debian's: "amd64", "arm64"
	GOARCH      string // Go's: "amd64", "arm64"
	KernelArch  string // kbuild's ARCH=
	ImageTarget string // make target of the bootable image
	Image       string // where the build puts it, relative to the build dir
	CrossPrefix string // CROSS_COMPILE= on a host of another arch
	CrossDeb    string // Debian package of that cross compiler
}

var arches = []Arch{
	{Name: "x86_64", Deb: "amd64", GOARCH: "amd64", KernelArch: "x86_64", ImageTarget: "bzImage",
		Image: "arch/x86/boot/bzImage", CrossPrefix: "x86_64-linux-gnu-", CrossDeb: "gcc-x86-64-linux-gnu"},
	{Name: "arm64", Deb: "arm64", GOARCH: "arm64", KernelArch: "arm64", ImageTarget: "Image",
		Image: "arch/arm64/boot/Image", CrossPrefix: "aarch64-linux-gnu-", CrossDeb: "gcc-aarch64-linux-gnu"},
}

// LookupArch finds an arch by klptest's, Debian's or uname's name.
func LookupArch(name string) (Arch, error) {
	for _, a := range arches {
		if name == a.Name || name == a.Deb || (name == "aarch64" && a.Name == "arm64") {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("unknown arch %q (known: x86_64, arm64)", name)
}

// DebArch maps klptest's arch names to Debian's.
func DebArch(arch string) (string, error) {
	a, err := LookupArch(arch)
	return a.Deb, err
}

// Cross says whether building for a needs a cross compiler on this host.
func (a Arch) Cross() bool { return a.GOARCH != runtime.GOARCH }

// MakeVars are the kbuild variables that build for a on this host, both
// the kernel and out-of-tree modules.
func (a Arch) MakeVars() []string {
	v := []string{"ARCH=" + a.KernelArch}
	if a.Cross() {
		v = append(v, "CROSS_COMPILE="+a.CrossPrefix)
	}
	return v
}

// CheckCompiler checks that the compiler that builds for a is on PATH.
func (a Arch) CheckCompiler() error {
	if !a.Cross() {
		return nil
	}
	if _, err := exec.LookPath(a.CrossPrefix + "gcc"); err != nil {
		return &MissingToolError{Tool: a.CrossPrefix + "gcc", Package: a.CrossDeb, For: "building for " + a.Name}
	}
	return nil
}

// MissingToolError: a build needs a program the host lacks.
type MissingToolError struct{ Tool, Package, For string }

func (e *MissingToolError) Error() string {
	return fmt.Sprintf("%s needs %s, which is not on PATH: install it (apt-get install %s)", e.For, e.Tool, e.Package)
}
