package cases

import (
	"slices"
	"strings"
	"testing"
)

// The VM's derived bound grows with --storm-seconds only for the cases
// that storm.
func TestStorms(t *testing.T) {
	for name, want := range map[string]bool{"fork-storm": true, "patch": false, "signal": false} {
		cs, err := Lookup([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		if got := cs[0].Storms(); got != want {
			t.Errorf("%s: Storms() = %v, want %v", name, got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup([]string{"patch"}); err != nil {
		t.Fatal(err)
	}
	_, err := Lookup([]string{"nope"})
	if err == nil || !strings.Contains(err.Error(), `unknown case "nope"`) || !strings.Contains(err.Error(), "patch") {
		t.Errorf("err = %v", err)
	}
}

// Inject and break-port steps name their fault in Fault, one the agent's
// handler takes; no other step names one, and no fault hides in Module.
func TestFaultSteps(t *testing.T) {
	takes := map[string][]string{
		DoInject:    {FaultSetPending, FaultClearPending, FaultWarn, FaultHang, FaultPanic},
		DoBreakPort: {FaultTruncate, FaultClose},
	}
	n := 0
	for _, c := range append(append(All(), Demos()...), Faults()...) {
		for _, st := range c.Steps {
			faults, ok := takes[st.Do]
			switch {
			case ok && (!slices.Contains(faults, st.Fault) || st.Module != ""):
				t.Errorf("%s: %s step with fault %q, module %q; want one of %q and no module", c.Name, st.Do, st.Fault, st.Module, faults)
			case !ok && st.Fault != "":
				t.Errorf("%s: %s step names fault %q", c.Name, st.Do, st.Fault)
			}
			if ok {
				n++
			}
		}
	}
	if n == 0 {
		t.Error("no case injects a fault: the test saw nothing")
	}
}

// A require step ends its case as skipped with nothing of it done, so that
// the host judges only the kernel's health there: it comes first, and
// names a symbol and what its absence means.
func TestRequireFirst(t *testing.T) {
	n := 0
	for _, c := range registry {
		for i, st := range c.Steps {
			if st.Do != DoRequire {
				continue
			}
			n++
			if i != 0 || st.Symbol == "" || st.Why == "" {
				t.Errorf("case %s: require step %d (symbol %q, why %q): want the first step, with both", c.Name, i+1, st.Symbol, st.Why)
			}
		}
	}
	if n == 0 {
		t.Error("no case has a require step: the test saw nothing")
	}
}
