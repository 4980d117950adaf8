package kernels

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// imageFor is where a built tree keeps its bootable image, per arch.
var imageFor = map[string]string{
	"x86_64": "arch/x86/boot/bzImage",
	"arm64":  "arch/arm64/boot/Image",
}

// Tree resolves tree:PATH, a kernel tree already built in place or an O=
// build dir: its image boots, and the tree itself is the module build dir.
func Tree(path, arch string) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	name := "tree:" + path
	rel, err := os.ReadFile(filepath.Join(abs, "include/config/kernel.release"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a built kernel tree (no include/config/kernel.release): build it with make, or point at its O= build dir", name)
	}
	img, ok := imageFor[arch]
	if !ok {
		return nil, fmt.Errorf("unknown arch %q (known: x86_64, arm64)", arch)
	}
	s := &Spec{
		Name:     name,
		Arch:     arch,
		Release:  strings.TrimSpace(string(rel)),
		Version:  strings.TrimSpace(string(rel)),
		Image:    filepath.Join(abs, img),
		Config:   filepath.Join(abs, ".config"),
		BuildDir: abs,
		Root:     abs,
	}
	if _, err := os.Stat(s.Image); err != nil {
		return nil, fmt.Errorf("%s has no %s: build it for %s (make %s)", name, img, arch, filepath.Base(img))
	}
	if err := CheckImageArch(s.Image, arch); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg, err := ReadConfig(s.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Check(name + " (" + s.Release + ")"); err != nil {
		return nil, err
	}
	s.CC, _ = cfg.Compiler()
	if s.GuestModules, err = treeModules(abs, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// treeModules finds the result port's driver modules in a built tree, when
// the config builds them as modules.
func treeModules(tree string, cfg Config) ([]string, error) {
	return guestModulesIn(filepath.Join(tree, "drivers"), cfg)
}

// CheckImageArch checks that a kernel image is one QEMU can boot for arch:
// an x86 bzImage carries "HdrS" at 0x202, an arm64 Image "ARM\x64" at 0x38.
func CheckImageArch(path, arch string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 0x210)
	n, _ := f.Read(head)
	head = head[:n]
	isX86 := len(head) >= 0x206 && bytes.Equal(head[0x202:0x206], []byte("HdrS"))
	isArm64 := len(head) >= 0x3c && bytes.Equal(head[0x38:0x3c], []byte("ARM\x64"))
	switch {
	case arch == "x86_64" && isX86, arch == "arm64" && isArm64:
		return nil
	case isX86:
		return fmt.Errorf("image %s is an x86 bzImage, not an %s kernel: use --arch x86_64", path, arch)
	case isArm64:
		return fmt.Errorf("image %s is an arm64 Image, not an %s kernel: use --arch arm64", path, arch)
	}
	return fmt.Errorf("image %s is neither an x86 bzImage nor an arm64 Image: is it truncated or corrupt?", path)
}
