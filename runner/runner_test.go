package runner

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/check"
	"github.com/klptest/klptest/vm"
)

const hello = `{"v":1,"type":"hello","hello":{"release":"r","machine":"x86_64","cpus":2,"cases":["patch"]}}` + "\n"

func TestReadStream(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   string // error substring; "" = no error
	}{
		{"complete", hello + `{"v":1,"type":"done"}` + "\n", ""},
		{"no done", hello + `{"v":1,"type":"case-start","case":"patch"}` + "\n", `without a done event (last event: "case-start")`},
		{"truncated line", hello + `{"v":1,"type":"case-sta`, "bad event line"},
		{"empty", "", `last event: ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &cases.Trace{}
			err := read(strings.NewReader(tt.stream), tr, func(cases.Event) {})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// A VM that ends without done fails every case it did not finish, naming why.
func TestVerdictsWithoutDone(t *testing.T) {
	tr := &cases.Trace{Hello: &cases.Hello{CPUs: 2}, Cases: []*cases.CaseTrace{{Name: "patch"}}}
	cs, _ := cases.Lookup([]string{"patch"})
	exit := &vm.Exit{Reason: vm.ReasonGuestReset, Status: "exit status 0", Console: "[ 5.0] Kernel panic - not syncing: Fatal exception\n"}
	vs := verdicts(tr, cs, exit, errors.New("result stream ended without a done event"), "")
	if len(vs) != 1 || vs[0].Pass {
		t.Fatalf("verdicts = %+v", vs)
	}
	var found bool
	for _, v := range vs[0].Violations {
		if v.Rule == check.RuleTrace && strings.Contains(v.Msg, "Kernel panic") {
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
