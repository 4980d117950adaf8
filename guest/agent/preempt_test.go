package agent

import (
	"testing"

	"github.com/klptest/klptest/wire"
)

func TestCurrentPreempt(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"none (voluntary) full\n", wire.PreemptVoluntary, true}, // 6.12, as Debian boots it
		{"none voluntary (full) lazy\n", wire.PreemptFull, true}, // after the write
		{"(none) voluntary full lazy\n", wire.PreemptNone, true},
		{"none voluntary full lazy\n", "", false},
		{"", "", false},
	} {
		got, ok := currentPreempt(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("currentPreempt(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBuiltPreempt(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"#1 SMP PREEMPT_DYNAMIC Debian 6.12.118-1 (2026-11-20)", ""},
		{"#1 SMP PREEMPT_LAZY Thu Dec  3 10:00:00 UTC 2026", wire.PreemptLazy},
		{"#1 SMP PREEMPT_RT Thu Dec  3 10:00:00 UTC 2026", wire.PreemptRT},
		{"#1 SMP PREEMPT Thu Dec  3 10:00:00 UTC 2026", wire.PreemptFull},
		{"#1 SMP Thu Dec  3 10:00:00 UTC 2026", wire.PreemptNone},
	} {
		if got := builtPreempt(tc.in); got != tc.want {
			t.Errorf("builtPreempt(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
