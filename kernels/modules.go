package kernels

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Drivers are the options the guest needs, built in or as modules: the
// result port. When they are modules, klptest ships them in the initramfs.
var Drivers = map[string]string{
	"CONFIG_VIRTIO_PCI":     "virtio_pci",
	"CONFIG_VIRTIO_CONSOLE": "virtio_console",
}

// driverGlobs are the image package paths that hold those modules.
var driverGlobs = []string{
	"./lib/modules/*/kernel/drivers/virtio/*", "./lib/modules/*/kernel/drivers/char/virtio_console.ko*",
	"./usr/lib/modules/*/kernel/drivers/virtio/*", "./usr/lib/modules/*/kernel/drivers/char/virtio_console.ko*",
}

// guestModules returns, in load order, the .ko files the guest must load
// for the drivers that cfg builds as modules, from an extracted image tree.
// Compressed modules are decompressed next to their original.
func guestModules(fs, release string, cfg Config) ([]string, error) {
	base := filepath.Join(fs, "lib/modules", release, "kernel")
	if _, err := os.Stat(base); err != nil {
		base = filepath.Join(fs, "usr/lib/modules", release, "kernel") // merged /usr
	}
	return guestModulesIn(base, cfg)
}

// guestModulesIn does it for the modules found anywhere under base.
func guestModulesIn(base string, cfg Config) ([]string, error) {
	var roots []string
	for opt, mod := range Drivers {
		if cfg[opt] == "m" {
			roots = append(roots, mod)
		}
	}
	if len(roots) == 0 {
		return nil, nil
	}
	sort.Strings(roots)
	index := map[string]string{}
	filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			name := filepath.Base(p)
			for _, ext := range []string{".ko", ".ko.xz", ".ko.zst"} {
				if strings.HasSuffix(name, ext) {
					index[strings.ReplaceAll(strings.TrimSuffix(name, ext), "-", "_")] = p
				}
			}
		}
		return nil
	})
	var order []string
	seen := map[string]bool{}
	var visit func(m string, depth int) error
	visit = func(m string, depth int) error {
		if seen[m] {
			return nil
		}
		seen[m] = true
		if depth > 32 {
			return fmt.Errorf("module dependency loop at %s", m)
		}
		p, ok := index[m]
		if !ok {
			return fmt.Errorf("module %s not found in the image package under %s", m, base)
		}
		ko, err := plainKO(p)
		if err != nil {
			return err
		}
		deps, err := modDepends(ko)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, depth+1); err != nil {
				return err
			}
		}
		order = append(order, ko)
		return nil
	}
	for _, r := range roots {
		if err := visit(r, 0); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// plainKO returns an uncompressed copy of a module file.
func plainKO(p string) (string, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		return p, nil
	case strings.HasSuffix(p, ".xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".zst"):
		tool = "zstd"
	}
	out := p[:strings.LastIndex(p, ".ko")+3]
	b, err := exec.Command(tool, "-dc", p).Output()
	if err != nil {
		return "", fmt.Errorf("decompress %s with %s: %w", p, tool, err)
	}
	return out, os.WriteFile(out, b, 0o644)
}

// modDepends reads the depends= field of a module's .modinfo.
func modDepends(ko string) ([]string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", ko, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s has no .modinfo", ko)
	}
	b, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}
