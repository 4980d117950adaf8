package runner

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/klptest/klptest/wire"
)

// QEMU's "info registers -a", recorded: a hung Debian 6.1 guest in long
// mode, and fresh x86 and arm64 machines at reset (EIP, PC).
func TestParseRegisters(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []CPUState
	}{
		{"registers-debian-6.1-x86_64.txt", []CPUState{{CPU: 0, PC: "ffffffff8c65a170"}, {CPU: 1, PC: "ffffffff8bc7c40d"}}},
		{"registers-reset-x86_64.txt", []CPUState{{CPU: 0, PC: "000efbbf"}, {CPU: 1, PC: "0000fff0"}}},
		{"registers-reset-arm64.txt", []CPUState{{CPU: 0, PC: "0000000000000200"}, {CPU: 1, PC: "0000000000000000"}}},
	} {
		b, err := os.ReadFile("testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if got := parseRegisters(string(b)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.file, got, tc.want)
		}
	}
}

func TestNamePC(t *testing.T) {
	for _, tc := range []struct {
		pc   uint64
		want string
	}{
		{0x92be0, "user space"},        // arm64 EL0
		{0x7ffd12345678, "user space"}, // x86_64 user stack
		{0xffffffff81000000, ""},       // the kernel, without a System.map
		{0xffff80008028b0b0, ""},       // arm64's kernel half, likewise
	} {
		if got := namePC(tc.pc, nil, 0); got != tc.want {
			t.Errorf("namePC(%#x) = %q, want %q", tc.pc, got, tc.want)
		}
	}
}

func TestHostForensicsSummary(t *testing.T) {
	for _, tc := range []struct {
		h    HostForensics
		want string
	}{
		{HostForensics{Blocked: []string{"uinit[94] in f+0x1/0x2"}, Sysrq: []string{"x"}, CPUs: []CPUState{{CPU: 0, PC: "ffff1", Symbol: "default_idle+0x4"}, {CPU: 1, PC: "ffff2"}}},
			"host forensics: blocked tasks (sysrq-w): uinit[94] in f+0x1/0x2; vCPU 0 at default_idle+0x4, vCPU 1 at ffff2"},
		// An arm64 hang, as CI saw it: one sample caught vCPU 0 in user
		// space; later ones found it in the kernel.
		{HostForensics{CPUs: []CPUState{{CPU: 0, PC: "92be0", Symbol: "user space", Seen: []string{"el0_svc+0x30", "do_idle+0x11c"}}, {CPU: 1, PC: "ffff80008028b0b0", Symbol: "arch_timer_read_cntvct_el0+0x4"}}},
			"host forensics: vCPU 0 at user space (then also el0_svc+0x30, do_idle+0x11c), vCPU 1 at arch_timer_read_cntvct_el0+0x4"},
		{HostForensics{Sysrq: []string{"x"}, Vmcore: "/r/vmcore-host-x.elf"},
			"host forensics: sysrq-w showed no blocked task; guest memory dump: /r/vmcore-host-x.elf"},
		{HostForensics{Notes: []string{"sysrq: no keyboard", "registers: qemu exited"}},
			"host forensics: nothing collected (sysrq: no keyboard; registers: qemu exited)"},
	} {
		if got := tc.h.Summary(); got != tc.want {
			t.Errorf("Summary() = %q, want %q", got, tc.want)
		}
	}
}

// An agent that came up but could not load the test modules: no verdict
// on the kernel, and a hint at the usual cause.
func TestAgentStartError(t *testing.T) {
	for _, tc := range []struct {
		tr   wire.Trace
		want string
	}{
		{wire.Trace{Errors: []string{"finit_module klpt_target.ko: exec format error"}}, "were they built against headers of another build"},
		{wire.Trace{Errors: []string{"open /lib/klptest/klpt_target.ko: no such file or directory"}}, "symbols or files this kernel lacks"},
		{wire.Trace{Errors: []string{"something"}}, "could not start the cases: something"},
		{wire.Trace{Errors: []string{"x"}, Cases: []*wire.CaseTrace{{Name: "patch"}}}, ""},
		{wire.Trace{}, ""},
	} {
		err := agentStartError(&tc.tr)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.tr, err, tc.want)
		}
	}
}
