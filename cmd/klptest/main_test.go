package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/runner"
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
		{[]string{"run", "--kernel", "tree:/nonexistent"}, exitInfra, "is not a built kernel tree"},
		{[]string{"run", "--timeout", "-5s"}, exitUsage, "--timeout -5s is negative"},
		{[]string{"run", "--storm-tasks", "-3"}, exitUsage, "must not be negative"},
		{[]string{"run", "--case", "patch", "--case", "patch"}, exitUsage, `case "patch" named twice`},
		{[]string{"run", "--repeat", "3", "--jobs", "0"}, exitUsage, "--jobs 0: give a number of runs at once, 1 or more"},
		{[]string{"run", "--jobs", "2"}, exitUsage, "--jobs runs the runs of --repeat at once; give --repeat N too"},
		{[]string{"run", "--suite", "ltp"}, exitUsage, `--suite "ltp": give klptest (the default), kselftest or all`},
		{[]string{"run", "--suite", "all", "--case", "patch"}, exitUsage, "--suite all runs every case of both suites"},
		{[]string{"run", "--suite", "kselftest", "--storm-tasks", "5"}, exitUsage, "apply to klptest's cases, not to --suite kselftest"},
		{[]string{"run", "--case", "kselftest:test-livepatch.sh"}, exitUsage, "is one of the kernel's selftests: run it with --suite kselftest"},
		{[]string{"run", "--shell-on-fail", "--ktap"}, exitUsage, "both want stdout"},
		{[]string{"run", "--shell-on-fail", "--timeout", "5m"}, exitUsage, "--timeout does not apply with --shell-on-fail"},
		{[]string{"run", "--shell-on-fail"}, exitUsage, "--shell-on-fail needs a terminal on stdin"},
		{[]string{"run", "--kernel", "debian:bogus"}, exitInfra, `series "bogus" is not MAJOR.MINOR`},
		{[]string{"bench", "--runs", "0"}, exitUsage, "--runs 0: give a number of runs"},
		{[]string{"bench", "--snapshot-tasks", "100,lots"}, exitUsage, `--snapshot-tasks "100,lots": give task counts`},
		{[]string{"bench", "--case", "nope"}, exitUsage, `unknown case "nope"`},
		{[]string{"bench", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"bench", "--from", "/nonexistent.json"}, exitUsage, "--from: open /nonexistent.json"},
		{[]string{"bench", "--from", "../../bench/testdata/bench-debian-6.1.golden.txt"}, exitUsage, "not a klptest bench --json document"},
		{[]string{"bench", "--kernel", "fedora:40"}, exitInfra, `cannot bench: warm-up: kernel: kernel spec "fedora:40": unknown kind "fedora"`},
		{[]string{"kernel"}, exitUsage, "usage: klptest kernel build|info"},
		{[]string{"kernel", "info"}, exitUsage, "usage: klptest kernel build|info"},
		{[]string{"kernel", "info", "tree:/nonexistent"}, exitInfra, "is not a built kernel tree"},
	}
	// Not a terminal, whatever go test was started from (the
	// --shell-on-fail row).
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	stdin := os.Stdin
	os.Stdin = devnull
	defer func() { os.Stdin = stdin }()
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

// Every case is listed, on one line, with its description; the long ones
// then those that find a known kernel bug last, marked.
func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"list"}, &out, &errb); code != 0 {
		t.Fatalf("list: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	all := append(append(cases.All(), cases.Longs()...), cases.Knowns()...)
	longs, knowns := len(cases.Longs()), len(cases.Knowns())
	if knowns == 0 {
		t.Fatal("no case finds a known kernel bug: exits-unload does")
	}
	for i, c := range cases.Longs() {
		if l := lines[len(lines)-knowns-longs+i]; !strings.Contains(l, "(long: runs only when named)") {
			t.Errorf("%s's line %q does not say it is long", c.Name, l)
		}
	}
	for i, c := range cases.Knowns() {
		if l := lines[len(lines)-knowns+i]; !strings.Contains(l, "(finds "+c.Known+": runs only when named)") {
			t.Errorf("%s's line %q does not say what it finds", c.Name, l)
		}
	}
	if len(lines) != len(all) {
		t.Fatalf("%d lines for %d cases:\n%s", len(lines), len(all), out.String())
	}
	for i, c := range all {
		if f := strings.Fields(lines[i]); len(f) < 2 || f[0] != c.Name || !strings.Contains(lines[i], c.Doc) {
			t.Errorf("line %d = %q; want %s and its description", i, lines[i], c.Name)
		}
	}
}

// No QEMU for the arch: one line naming the Debian package, before any
// download or build.
func TestMissingQEMU(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for arch, pkg := range map[string]string{"x86_64": "qemu-system-x86", "arm64": "qemu-system-arm"} {
		var out, errb bytes.Buffer
		code := Main([]string{"run", "--arch", arch, "--kernel", "debian:6.1"}, &out, &errb)
		if code != exitInfra || !strings.Contains(errb.String(), "install Debian's "+pkg) || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("--arch %s without QEMU: exit %d, stderr %q; want 125 and one line naming %s", arch, code, errb.String(), pkg)
		}
	}
}

func TestPrintWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *runner.Result
		want string
	}{
		{"nothing ran", nil, ""},
		{"no kernel resolved", &runner.Result{}, ""},
		{"no warnings", &runner.Result{Kernel: &kernels.Spec{Name: "debian:6.12"}}, ""},
		{"two", &runner.Result{Kernel: &kernels.Spec{Warnings: []string{"one thing", "another"}}},
			"# warning: one thing\n# warning: another\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printWarnings(&b, tc.res)
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}
