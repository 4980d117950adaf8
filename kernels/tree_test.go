package kernels

import (
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
