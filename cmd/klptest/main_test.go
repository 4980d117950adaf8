package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad input that needs no VM: each gives one clear line and the right exit.
func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage: klptest"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"run", "--case", "nope"}, exitUsage, `unknown case "nope"`},
		{[]string{"run", "--arch", "riscv64"}, exitUsage, `unknown --arch "riscv64"`},
		{[]string{"run", "--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"run", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"run", "--kernel", "fedora:40"}, exitInfra, `unknown kind "fedora"`},
		{[]string{"run", "--kernel", "debian:6"}, exitInfra, "not MAJOR.MINOR"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("klptest %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, errb.String(), tt.code, tt.want)
		}
		if strings.Contains(errb.String(), "goroutine ") {
			t.Errorf("klptest %v printed a stack trace", tt.args)
		}
	}
}

func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"list"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "patch ") {
		t.Errorf("list: exit %d, %q", code, out.String())
	}
}
