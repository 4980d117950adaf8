package wire

import (
	"reflect"
	"testing"
)

func TestSwitchAttemptKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    SwitchAttempt
		want string
	}{
		{"running on another CPU, spinning", SwitchAttempt{Entered: 1, OnCPU: true, Runnable: true, Where: ChainAtSpin}, ChainOnCPU},
		{"preempted in the spin", SwitchAttempt{Entered: 1, Runnable: true, Where: ChainAtSpin}, ChainPreempted},
		{"preempted calling the inner function", SwitchAttempt{Entered: 2, Returned: 1, Runnable: true}, ChainPreempted},
		{"asleep in the inner function", SwitchAttempt{Entered: 2, Where: ChainAtPark}, ChainAsleep},
		{"woken, not yet on a CPU", SwitchAttempt{Entered: 2, Runnable: true, Where: ChainAtPark}, ""},
		{"checking itself", SwitchAttempt{Entered: 1, Self: true, OnCPU: true, Runnable: true, Where: ChainAtSpin}, ""},
		{"out of the chain", SwitchAttempt{Entered: 2, Returned: 2, OnCPU: true, Runnable: true}, ""},
		{"not yet in it", SwitchAttempt{Runnable: true}, ""},
	} {
		if got := tc.s.Kind(); got != tc.want {
			t.Errorf("%s: Kind() = %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestPhases(t *testing.T) {
	ops := []Op{
		{Kind: OpPreempt, T0: 1, T1: 2},
		{Kind: OpEnable, Goal: 1, T0: 10, T1: 11, InProgress: true},
		{Kind: OpEnable, Goal: 1, T0: 10, T1: 12},
		{Kind: OpStall, T0: 13, T1: 14},
		{Kind: OpReverse, Goal: 0, T0: 20, T1: 21},
		{Kind: OpComplete, Goal: 0, T0: 29, T1: 30},
		{Kind: OpEnable, Goal: 1, T0: 40, T1: 41},
		{Kind: OpForce, T0: 45, T1: 46},
		{Kind: OpComplete, T0: 47, T1: 48},
		{Kind: OpDisable, Goal: 0, T0: 50, T1: 51}, // never ended
	}
	want := []Phase{
		{Kind: OpEnable, Goal: 1, T0: 10, T1: 20},
		{Kind: OpReverse, Goal: 0, T0: 20, T1: 30, Complete: true},
		{Kind: OpEnable, Goal: 1, T0: 40, T1: 45},
	}
	if got := Phases(ops); !reflect.DeepEqual(got, want) {
		t.Errorf("Phases = %+v; want %+v", got, want)
	}
	sw := []SwitchAttempt{
		{T: 15, Entered: 1, OnCPU: true},
		{T: 16, Entered: 2, Where: ChainAtPark},
		{T: 25, Entered: 1, Runnable: true},
		{T: 26, Entered: 1, Returned: 1, Runnable: true}, // out of the chain
		{T: 35, Entered: 2, Where: ChainAtPark},          // between phases
	}
	_, got := ChainPresence(ops, sw)
	wantN := []map[string]int{{ChainOnCPU: 1, ChainAsleep: 1}, {ChainPreempted: 1}, {}}
	if !reflect.DeepEqual(got, wantN) {
		t.Errorf("ChainPresence = %v; want %v", got, wantN)
	}
	if got := ChainKindsSince(sw, 20); !reflect.DeepEqual(got, map[string]int{ChainPreempted: 1, ChainAsleep: 1}) {
		t.Errorf("ChainKindsSince(20) = %v", got)
	}
}
