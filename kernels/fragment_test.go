package kernels

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStandardFragmentsParse(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		s := &Source{Fragments: []string{"debug"}}
		a, _ := LookupArch(arch)
		frags, err := s.fragments(a)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		var names []string
		for _, f := range frags {
			names = append(names, f.Name)
		}
		if got, want := strings.Join(names, " "), "base.config livepatch.config "+arch+".config debug.config"; got != want {
			t.Errorf("%s fragments = %q, want %q", arch, got, want)
		}
		opts := map[string]string{}
		for _, f := range frags {
			o, _ := ParseFragment(f)
			for _, x := range o {
				opts[x.Name] = x.Value
			}
		}
		// What klptest cannot test without must be asked for, per arch.
		for _, o := range append(Required, "CONFIG_VIRTIO_CONSOLE", "CONFIG_VIRTIO_PCI", "CONFIG_HAVE_RELIABLE_STACKTRACE") {
			if opts[o] != "y" {
				t.Errorf("%s fragments do not ask for %s=y (got %q)", arch, o, opts[o])
			}
		}
	}
}

func TestParseFragment(t *testing.T) {
	got, err := ParseFragment(Fragment{Name: "f", Text: "# comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Option{{"CONFIG_A", "y", "f"}, {"CONFIG_B", "n", "f"}, {"CONFIG_C", `"x y"`, "f"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("option %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := ParseFragment(Fragment{Name: "bad.config", Text: "CONFIG_A=y\nLIVEPATCH=y\n"}); err == nil ||
		!strings.Contains(err.Error(), "bad.config line 2") {
		t.Errorf("a line that is no option: err = %v", err)
	}
}

func TestVerifyConfig(t *testing.T) {
	frags := []Fragment{
		{Name: "base.config", Text: "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=8\n"},
		{Name: "arm64.config", Text: "CONFIG_B=m\n"}, // a later fragment overrides
	}
	tests := []struct {
		name  string
		final string
		lost  []string
	}{
		{"all survived", "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=8\n", nil},
		{"unset options may be absent", "CONFIG_A=y\nCONFIG_B=m\nCONFIG_D=8\n", nil},
		{"dropped", "CONFIG_B=m\nCONFIG_D=8\n", []string{"CONFIG_A=y (from base.config; the config has not set)"}},
		{"changed value and override", "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\nCONFIG_D=4\n", []string{
			"CONFIG_B=m (from arm64.config; the config has CONFIG_B=y)",
			"CONFIG_C=n (from base.config; the config has CONFIG_C=y)",
			"CONFIG_D=8 (from base.config; the config has CONFIG_D=4)",
		}},
	}
	for _, tt := range tests {
		err := VerifyConfig(frags, ParseConfig([]byte(tt.final)), "arm64")
		var de *DroppedOptionsError
		if tt.lost == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.As(err, &de) {
			t.Fatalf("%s: err = %v, want a DroppedOptionsError", tt.name, err)
		}
		if strings.Join(de.Options, "|") != strings.Join(tt.lost, "|") {
			t.Errorf("%s: lost %q, want %q", tt.name, de.Options, tt.lost)
		}
		if !strings.Contains(err.Error(), "config for arm64 lost") {
			t.Errorf("%s: message %q", tt.name, err)
		}
	}
}

func TestLoadFragment(t *testing.T) {
	if _, err := LoadFragment("nosuch"); err == nil || !strings.Contains(err.Error(), "klptest has arm64, base, debug, kselftest, livepatch, x86_64") {
		t.Errorf("unknown name: %v", err)
	}
	p := filepath.Join(t.TempDir(), "mine.config")
	os.WriteFile(p, []byte("CONFIG_X=y\n"), 0o644)
	f, err := LoadFragment(p)
	if err != nil || f.Name != p || f.Text != "CONFIG_X=y\n" {
		t.Errorf("file: %+v %v", f, err)
	}
}

func TestCheckSourceTree(t *testing.T) {
	dir := t.TempDir()
	if err := CheckSourceTree(dir, "src:x"); err == nil || !strings.Contains(err.Error(), "not a kernel source tree (no Makefile)") {
		t.Errorf("empty dir: %v", err)
	}
	for _, p := range []string{"Makefile", "Kconfig", "scripts/kconfig/merge_config.sh", "kernel/livepatch/core.c"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	if err := CheckSourceTree(dir, "src:x"); err != nil {
		t.Errorf("source tree: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ".config"), nil, 0o644)
	if err := CheckSourceTree(dir, "src:x"); err == nil || !strings.Contains(err.Error(), "make mrproper") {
		t.Errorf("configured in place: %v", err)
	}
}
