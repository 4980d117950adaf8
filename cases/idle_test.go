package cases

import (
	"fmt"
	"testing"

	"github.com/klptest/klptest/wire"
)

// The idle case counts the kernel's tries of idle tasks, and of them
// those that found the task current on its idle CPU; chain tasks' tries
// are not its business.
func TestIdleCounts(t *testing.T) {
	c, err := Lookup([]string{"idle"})
	if err != nil {
		t.Fatal(err)
	}
	ct := &wire.CaseTrace{Switches: []wire.SwitchAttempt{
		{Idle: true, CPU: 1, OnCPU: true, Runnable: true, Pending: true, Ret: wire.ErrnoBusy},
		{Idle: true, CPU: 2, OnCPU: true, Runnable: true, Pending: true, Ret: wire.ErrnoBusy},
		{Idle: true, CPU: 1, Pending: true},
		{PID: 60, Entered: 1, OnCPU: true, Ret: wire.ErrnoBusy},
	}}
	got := fmt.Sprint(c[0].Counts(ct))
	if want := fmt.Sprint(map[string]int{"idle-busy": 2, "idle-tried": 3}); got != want {
		t.Errorf("Counts = %s; want %s", got, want)
	}
	if !c[0].Quiet || c[0].MaxTries == 0 {
		t.Errorf("the idle case must run quiet with a bound on its tries: %+v", c[0])
	}
}
