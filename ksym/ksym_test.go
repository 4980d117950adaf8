package ksym

import (
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	m, err := Open("testdata/System.map")
	if err != nil {
		t.Fatal(err)
	}
	off := m.Offset(0xffffffff8a000000) // KASLR moved _text by 0x9000000
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{0xffffffff8a001004, "native_safe_halt+0x4"}, // first of two aliases
		{0xffffffff8a001028, "default_idle+0x8"},     // not the section marker before it
		{0xffffffff8a000000, "_stext+0x0"},
		{0xffffffff8a002000, ""}, // _etext: no longer core text
		{0xffffffffc0001000, ""}, // a module
		{0x00007f0000001000, ""}, // user space
		{0xffffffff81001004, ""}, // the unrelocated address is below the text
	} {
		if got := m.Name(tc.addr, off); got != tc.want {
			t.Errorf("Name(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, in := range []string{"", "zz T _text\n", "ffffffff81000000 D data\n"} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%q): no error", in)
		}
	}
}
