package kernels

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
	a, err := LookupArch(arch)
	if err != nil {
		return nil, err
	}
	img := a.Image
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
	cfg, err := ReadConfig(s.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if built := cfg.Arch(); built != "" && built != a.Name {
		return nil, fmt.Errorf("%s is built for %s, not %s: use --arch %s, or build the tree with make ARCH=%s", name, built, a.Name, built, a.KernelArch)
	}
	if _, err := os.Stat(s.Image); err != nil {
		return nil, fmt.Errorf("%s has no %s: build it for %s (make %s %s)", name, img, arch, strings.Join(a.MakeVars(), " "), a.ImageTarget)
	}
	if err := CheckImageArch(s.Image, arch); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Check(name + " (" + s.Release + ")"); err != nil {
		return nil, err
	}
	if err := a.CheckCompiler(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.MakeVars = a.MakeVars()
	s.BuildID = buildID(s)
	s.CC, _ = cfg.Compiler()
	if s.GuestModules, err = treeModules(abs, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.Source = treeSource(abs)
	return s, nil
}

// treeSource is the source tree of the build in dir: dir itself when built
// in place, else where the O= dir's "source" link points; "" if neither.
func treeSource(dir string) string {
	for _, d := range []string{dir, filepath.Join(dir, "source")} {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			if _, err := os.Stat(filepath.Join(r, "tools/testing/selftests")); err == nil {
				return r
			}
		}
	}
	return ""
}

// buildID tells builds of one tree apart: a rebuilt image or module symbol
// table is another kernel.
func buildID(s *Spec) string {
	h := sha256.New()
	if st, err := os.Stat(s.Image); err == nil {
		fmt.Fprintf(h, "%d %d\n", st.Size(), st.ModTime().UnixNano())
	}
	if b, err := os.ReadFile(filepath.Join(s.BuildDir, "Module.symvers")); err == nil {
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
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
	case arch == "x86_64" && isX86:
		// The setup sectors and the protected-mode part (syssize, in
		// 16-byte units) must both be there: a cut-off image would
		// otherwise boot into a decompressor error or a hang.
		setup := int64(head[0x1f1])
		if setup == 0 {
			setup = 4
		}
		want := (setup+1)*512 + int64(binary.LittleEndian.Uint32(head[0x1f4:0x1f8]))*16
		if st, err := f.Stat(); err == nil && st.Size() < want {
			return fmt.Errorf("image %s is truncated: %d bytes, and its header says %d; fetch or build it again", path, st.Size(), want)
		}
		return nil
	case arch == "arm64" && isArm64:
		return nil
	case isX86:
		return fmt.Errorf("image %s is an x86 bzImage, not an %s kernel: use --arch x86_64", path, arch)
	case isArm64:
		return fmt.Errorf("image %s is an arm64 Image, not an %s kernel: use --arch arm64", path, arch)
	}
	return fmt.Errorf("image %s is neither an x86 bzImage nor an arm64 Image: is it truncated or corrupt?", path)
}
