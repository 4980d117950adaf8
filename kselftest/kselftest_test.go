package kselftest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/klptest/klptest/kernels"
)

// The Makefiles and config of linux-source-7.2's livepatch selftests, as
// Debian ships them (testdata/linux-7.2).
func TestLoad(t *testing.T) {
	s, err := Load("testdata/linux-7.2")
	if err != nil {
		t.Fatal(err)
	}
	wantScripts := []string{"test-livepatch.sh", "test-callbacks.sh", "test-shadow-vars.sh", "test-state.sh",
		"test-ftrace.sh", "test-sysfs.sh", "test-syscall.sh", "test-kprobe.sh"}
	if !reflect.DeepEqual(s.Scripts, wantScripts) {
		t.Errorf("scripts %q, want %q", s.Scripts, wantScripts)
	}
	if !reflect.DeepEqual(s.Helpers, []string{"test_klp-call_getpid"}) {
		t.Errorf("helpers %q", s.Helpers)
	}
	if len(s.Modules) != 14 || s.Modules[0] != "test_klp_atomic_replace" || s.Modules[13] != "test_klp_syscall" {
		t.Errorf("modules %q, want the 14 of test_modules/Makefile, sorted", s.Modules)
	}
	if !reflect.DeepEqual(s.Config, map[string]string{"CONFIG_LIVEPATCH": "y", "CONFIG_DYNAMIC_DEBUG": "y"}) {
		t.Errorf("config %v", s.Config)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "has no livepatch selftests ("+Dir+"/Makefile)") {
		t.Errorf("a tree without selftests: %v", err)
	}
}

func TestMakeList(t *testing.T) {
	for _, tc := range []struct {
		name, mk, v string
		want        []string
	}{
		{"continued", "A := x \\\n\ty \\\n\tz\nB := w\n", "A", []string{"x", "y", "z"}},
		{"appended", "obj-m += a.o \\\n b.o\nobj-m += c.o\n", "obj-m", []string{"a.o", "b.o", "c.o"}},
		{"other names", "TEST_PROGS_EXTENDED := f.sh\nTEST_PROGS := t.sh\n", "TEST_PROGS", []string{"t.sh"}},
		{"absent", "X = 1\n", "TEST_PROGS", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MakeList(tc.mk, tc.v); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("MakeList(%q) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}

func TestMissingConfig(t *testing.T) {
	s := &Suite{Config: map[string]string{"CONFIG_LIVEPATCH": "y", "CONFIG_DYNAMIC_DEBUG": "y", "CONFIG_TEST_X": "m"}}
	for _, tc := range []struct {
		name string
		have kernels.Config
		want []string
	}{
		{"all there", kernels.Config{"CONFIG_LIVEPATCH": "y", "CONFIG_DYNAMIC_DEBUG": "y", "CONFIG_TEST_X": "m"}, nil},
		{"built in for a module", kernels.Config{"CONFIG_LIVEPATCH": "y", "CONFIG_DYNAMIC_DEBUG": "y", "CONFIG_TEST_X": "y"}, nil},
		{"tinyconfig", kernels.Config{"CONFIG_LIVEPATCH": "y", "CONFIG_TEST_X": "m"}, []string{"CONFIG_DYNAMIC_DEBUG=y (not set)"}},
		{"module for built in", kernels.Config{"CONFIG_LIVEPATCH": "m", "CONFIG_DYNAMIC_DEBUG": "y"},
			[]string{"CONFIG_LIVEPATCH=y (m)", "CONFIG_TEST_X=m (not set)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.MissingConfig(tc.have); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	s := &Suite{Scripts: []string{"test-livepatch.sh", "test-callbacks.sh", "test-ftrace.sh"}}
	for _, tc := range []struct {
		name  string
		names []string
		want  []string
		err   string
	}{
		{"none is all", nil, s.Scripts, ""},
		{"the suite's order", []string{"ftrace", "test-livepatch.sh"}, []string{"test-livepatch.sh", "test-ftrace.sh"}, ""},
		{"case names", []string{"kselftest:test-callbacks.sh"}, []string{"test-callbacks.sh"}, ""},
		{"unknown", []string{"patch"}, nil, `unknown selftest "patch" (this kernel's: test-livepatch.sh, test-callbacks.sh, test-ftrace.sh)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Select(tc.names)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
