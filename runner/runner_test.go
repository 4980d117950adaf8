package runner

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/vm"
	"github.com/klptest/klptest/wire"
)

// A VM that ends without done fails every case it did not finish, naming why.
func TestVerdictsWithoutDone(t *testing.T) {
	tr := &wire.Trace{Hello: &wire.Hello{CPUs: 2}, Cases: []*wire.CaseTrace{{Name: "patch"}}}
	cs, _ := cases.Lookup([]string{"patch"})
	exit := &vm.Exit{Reason: vm.ReasonGuestReset, Status: "exit status 0", Console: "[ 5.0] Kernel panic - not syncing: Fatal exception\n"}
	vs := verdicts(tr, cs, exit, errors.New("result stream ended without a done event"), "")
	if len(vs) != 1 || vs[0].Pass {
		t.Fatalf("verdicts = %+v", vs)
	}
	var found bool
	for _, v := range vs[0].Violations {
		if v.Rule == rule.Trace && strings.Contains(v.CutShort, "Kernel panic") {
			found = true
		}
	}
	if !found {
		t.Errorf("no violation quotes the panic: %+v", vs[0].Violations)
	}
}

// A dump reads as an object, and as the bare path of the first documents
// that held dumps.
func TestVmcoreDecodes(t *testing.T) {
	var got []Vmcore
	if err := json.Unmarshal([]byte(`[{"case":"demo-stall","path":"/r/vmcore-demo-stall-0.elf"},"/r/old.elf"]`), &got); err != nil {
		t.Fatal(err)
	}
	want := []Vmcore{{Case: "demo-stall", Path: "/r/vmcore-demo-stall-0.elf"}, {Path: "/r/old.elf"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// KVM asked for by name for a foreign arch fails before any download or
// build, as an infra error naming the reason.
func TestRunKVMForeignArch(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "x86_64"
	}
	if _, err := vm.FindQEMU(other); err != nil {
		t.Skip(err)
	}
	start := time.Now()
	_, err := Run(context.Background(), Options{Kernel: "debian:6.12", Arch: other, Accel: "kvm", Cases: []string{"patch"}, Cache: t.TempDir()})
	var ie *InfraError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "kvm cannot run a "+other+" guest") {
		t.Errorf("Run = %v, want an infra error: kvm cannot run a %s guest", err, other)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s to refuse", d)
	}
}
