package wire

import (
	"reflect"
	"testing"
)

func TestForkRaces(t *testing.T) {
	ops := []Op{
		{Kind: OpPark, T0: 5},
		{Kind: OpEnable, T0: 10, Goal: StatePatched},
		{Kind: OpReverse, T0: 20, Goal: StateUnpatched},
		{Kind: OpComplete, T0: 30},
	}
	// fork copies (state, pending) at dup time; at klp_copy_process the
	// parent has (PState, PPending).
	fork := func(t int64, copied int, copiedPending bool, state int, pending bool) ForkEvent {
		return ForkEvent{T: t, Copied: true, CopiedState: copied, CopiedPending: copiedPending,
			PState: state, PPending: pending, CState: state, CPending: pending}
	}
	tests := []struct {
		name  string
		forks []ForkEvent
		want  map[string]int
	}{
		{"no race: between transitions", []ForkEvent{fork(1, StateUndefined, false, StateUndefined, false)}, map[string]int{}},
		{"no race: pending throughout", []ForkEvent{fork(15, StateUnpatched, true, StateUnpatched, true)},
			map[string]int{ForkPendingParent: 1}},
		{"init moved the state", []ForkEvent{fork(11, StateUndefined, false, StateUnpatched, false)},
			map[string]int{ForkStraddle: 1, ForkStraddleStart: 1}},
		{"the start raised the flag", []ForkEvent{fork(12, StateUnpatched, false, StateUnpatched, true)},
			map[string]int{ForkPendingParent: 1, ForkStraddle: 1, ForkStraddleStart: 1}},
		{"the reverse dropped the flag", []ForkEvent{fork(21, StateUnpatched, true, StateUnpatched, false)},
			map[string]int{ForkStraddle: 1, ForkStraddleReverse: 1, ForkFlagDropped: 1}},
		{"the reverse's restart raised it", []ForkEvent{fork(22, StatePatched, false, StatePatched, true)},
			map[string]int{ForkPendingParent: 1, ForkStraddle: 1, ForkStraddleReverse: 1}},
		{"a drop is the reverse's whenever seen", []ForkEvent{fork(25, StateUnpatched, true, StateUnpatched, false), fork(35, StatePatched, true, StatePatched, false)},
			map[string]int{ForkStraddle: 2, ForkStraddleReverse: 2, ForkFlagDropped: 2}},
		{"a switch mid-fork dropped it", []ForkEvent{fork(12, StateUnpatched, true, StatePatched, false)},
			map[string]int{ForkStraddle: 1, ForkStraddleStart: 1, ForkFlagDropped: 1}},
		{"completion moved it", []ForkEvent{fork(31, StateUnpatched, false, StateUndefined, false)},
			map[string]int{ForkStraddleOther: 1}},
		{"a v1 record is never a straddle", []ForkEvent{{T: 12, PState: StateUnpatched, PPending: true, CState: StateUnpatched, CPending: true}},
			map[string]int{ForkPendingParent: 1}},
		{"at the op's own time: before it", []ForkEvent{fork(20, StateUnpatched, false, StatePatched, false)},
			map[string]int{ForkStraddle: 1, ForkStraddleStart: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ForkRaces(ops, tc.forks); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
