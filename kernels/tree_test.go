package kernels

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree makes the parts of a built tree that Tree reads.
func fakeTree(t *testing.T, config, image string, imageBytes []byte) string {
	t.Helper()
	d := t.TempDir()
	write := func(p string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(d, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if config != "" {
		b, err := os.ReadFile(filepath.Join("testdata", config))
		if err != nil {
			t.Fatal(err)
		}
		write(".config", b)
		write("include/config/kernel.release", []byte("7.2.0-klptest\n"))
	}
	if image != "" {
		write(image, imageBytes)
	}
	return d
}

func bzImage() []byte {
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	b[0x1f1] = 1 // one setup sector and no more: the header says 1 KiB
	return b
}

func arm64Image() []byte {
	b := make([]byte, 0x400)
	copy(b[0x38:], "ARM\x64")
	return b
}

func TestTree(t *testing.T) {
	tests := []struct {
		name, config, image string
		bytes               []byte
		arch                string
		want                string // error substring; "" = ok
	}{
		{"built x86 tree", "config-6.12-amd64", "arch/x86/boot/bzImage", bzImage(), "x86_64", ""},
		{"not built", "", "", nil, "x86_64", "is not a built kernel tree"},
		{"no image", "config-6.12-amd64", "", nil, "x86_64", "has no arch/x86/boot/bzImage"},
		{"wrong arch", "config-6.12-amd64", "arch/arm64/boot/Image", arm64Image(), "x86_64", "has no arch/x86/boot/bzImage"},
		{"arm64 image asked as x86", "config-6.12-amd64", "arch/x86/boot/bzImage", arm64Image(), "x86_64", "is an arm64 Image, not an x86_64 kernel"},
		{"truncated image", "config-6.12-amd64", "arch/x86/boot/bzImage", []byte("MZ"), "x86_64", "truncated or corrupt"},
		{"x86 tree asked as arm64", "config-6.12-amd64", "arch/x86/boot/bzImage", bzImage(), "arm64", "is built for x86_64, not arm64: use --arch x86_64"},
		{"no livepatch", "config-6.12-arm64", "arch/arm64/boot/Image", arm64Image(), "arm64", "lacks CONFIG_LIVEPATCH=y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fakeTree(t, tt.config, tt.image, tt.bytes)
			s, err := Tree(d, tt.arch)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Release != "7.2.0-klptest" || s.BuildDir != d || s.CC != "x86_64-linux-gnu-gcc-12" {
					t.Errorf("spec: %+v", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line with %q", err, tt.want)
			}
		})
	}
}

func TestCheckImageArch(t *testing.T) {
	dir := t.TempDir()
	bz := func(size int) string {
		b := make([]byte, size)
		copy(b[0x202:], "HdrS")
		b[0x1f1] = 1                                   // one setup sector
		binary.LittleEndian.PutUint32(b[0x1f4:], 0x40) // 1 KiB of kernel
		p := filepath.Join(dir, fmt.Sprintf("bz-%d", size))
		os.WriteFile(p, b, 0o644)
		return p
	}
	arm := func() string {
		b := make([]byte, 4096)
		copy(b[0x38:], "ARM\x64")
		p := filepath.Join(dir, "Image")
		os.WriteFile(p, b, 0o644)
		return p
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a kernel"), 0o644)
	for _, tc := range []struct {
		path, arch, want string
	}{
		{bz(2048), "x86_64", ""},
		{bz(2000), "x86_64", "is truncated: 2000 bytes, and its header says 2048"},
		{bz(2048), "arm64", "is an x86 bzImage, not an arm64 kernel: use --arch x86_64"},
		{arm(), "arm64", ""},
		{arm(), "x86_64", "is an arm64 Image, not an x86_64 kernel: use --arch arm64"},
		{junk, "x86_64", "neither an x86 bzImage nor an arm64 Image"},
	} {
		err := CheckImageArch(tc.path, tc.arch)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckImageArch(%s, %s) = %v, want %q", filepath.Base(tc.path), tc.arch, err, tc.want)
		}
	}
}
