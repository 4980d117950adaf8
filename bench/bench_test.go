package bench

import (
	"testing"
	"time"

	"github.com/klptest/klptest/runner"
	"github.com/klptest/klptest/wire"
)

func TestSummarize(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Stat
	}{
		{"none", nil, Stat{}},
		{"one", ms(7), Stat{1, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond}},
		{"odd, unsorted", ms(30, 10, 20), Stat{3, 20 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond}},
		{"even: the middle two's mean", ms(40, 10, 20, 30), Stat{4, 25 * time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond}},
		{"an outlier moves only the max", ms(10, 11, 12, 13, 900), Stat{5, 12 * time.Millisecond, 10 * time.Millisecond, 900 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.in); got != tc.want {
				t.Errorf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestKernelWait(t *testing.T) {
	op := func(kind string, t0, t1 int64) wire.Op { return wire.Op{Kind: kind, T0: t0, T1: t1} }
	ct := func(start, end int64, ops ...wire.Op) *wire.CaseTrace {
		return &wire.CaseTrace{Start: &wire.CaseStart{T: start}, End: &wire.CaseEnd{T: end}, Ops: ops}
	}
	for _, tc := range []struct {
		name string
		ct   *wire.CaseTrace
		want time.Duration
	}{
		{"enable to complete, disable to complete, unload",
			ct(0, 100, op(wire.OpEnable, 10, 12), op(wire.OpComplete, 30, 31), op(wire.OpDisable, 40, 41), op(wire.OpComplete, 60, 62), op(wire.OpUnload, 70, 75)),
			(31 - 10) + (62 - 40) + (75 - 70)},
		{"a reversal stays inside its transition",
			ct(0, 100, op(wire.OpEnable, 10, 12), op(wire.OpReverse, 20, 21), op(wire.OpComplete, 50, 51)),
			51 - 10},
		{"a timeout ends the transition",
			ct(0, 100, op(wire.OpEnable, 10, 12), op(wire.OpTimeout, 80, 80)),
			80 - 10},
		{"cut short: in flight to the case's end",
			ct(0, 100, op(wire.OpEnable, 10, 12)),
			100 - 10},
		{"agent ops do not count",
			ct(0, 100, op(wire.OpPark, 1, 9), op(wire.OpStorm, 20, 90), op(wire.OpInject, 91, 92)),
			0},
		{"a load inside a transition counts once",
			ct(0, 100, op(wire.OpEnable, 10, 12), op(wire.OpLoad, 20, 30), op(wire.OpComplete, 40, 41)),
			41 - 10},
		{"no end: nothing to judge", &wire.CaseTrace{Start: &wire.CaseStart{T: 0}, Ops: []wire.Op{op(wire.OpEnable, 1, 2)}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := KernelWait(tc.ct); got != tc.want {
				t.Errorf("KernelWait = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRatios(t *testing.T) {
	s := time.Second
	r := &Report{
		Bare: []time.Duration{4 * s, 4 * s, 5 * s},
		Suite: []Run{
			{Wall: 30 * s, Boots: 2, Ready: []time.Duration{5 * s, 5 * s}, Cases: []CaseSplit{{Case: "patch", Guest: 10 * s, Kernel: 7 * s}, {Case: "storm", Guest: 10 * s, Kernel: 5 * s}}},
			{Wall: 32 * s, Boots: 2, Ready: []time.Duration{6 * s, 5 * s}, Cases: []CaseSplit{{Case: "patch", Guest: 10 * s, Kernel: 7 * s}, {Case: "storm", Guest: 10 * s, Kernel: 5 * s}}},
			{Wall: 28 * s, Boots: 2, Ready: []time.Duration{4 * s, 5 * s}, Cases: []CaseSplit{{Case: "patch", Guest: 10 * s, Kernel: 7 * s}, {Case: "storm", Guest: 10 * s, Kernel: 5 * s}}},
		},
	}
	// Ready: the first boots, 5, 6, 4: median 5 over a bare median of 4.
	if got := r.BootRatio(); got != 1.25 {
		t.Errorf("BootRatio = %v, want 1.25", got)
	}
	// Wall median 30 over 12 s of waits plus 2 bare boots of 4 s.
	if got := r.OverheadRatio(); got != 1.5 {
		t.Errorf("OverheadRatio = %v, want 1.5", got)
	}
	if got := r.Suite[0].Cases[0].Agent(); got != 3*s {
		t.Errorf("Agent = %v, want 3s", got)
	}
	if got := (&Report{}).BootRatio(); got != 0 {
		t.Errorf("BootRatio of nothing = %v, want 0", got)
	}
}

func TestSplitBoot(t *testing.T) {
	kmsg := []wire.KmsgLine{{TS: 0, Msg: "Linux version 6.12"}, {TS: 3362063, Msg: InitLine}, {TS: 3951808, Msg: "klpt_target: loading out-of-tree module taints kernel."}}
	hello := &wire.Hello{AgentStart: 3_700_000_000, Sent: 4_900_000_000}
	for _, tc := range []struct {
		name  string
		boot  runner.Boot
		ok    bool
		split BootSplit
	}{
		{"whole", runner.Boot{Trace: &wire.Trace{Hello: hello, Kmsg: kmsg}, Timing: runner.Timing{Ready: 5_421_703_308}}, true,
			BootSplit{PreKernel: 521_703_308, Kernel: 3_362_063 * time.Microsecond, Init: 337_937_000, Agent: 1_200_000_000}},
		{"an agent without the hello's clocks", runner.Boot{Trace: &wire.Trace{Hello: &wire.Hello{}, Kmsg: kmsg}, Timing: runner.Timing{Ready: 5_421_703_308}}, false, BootSplit{}},
		{"no /init line", runner.Boot{Trace: &wire.Trace{Hello: hello, Kmsg: kmsg[:1]}, Timing: runner.Timing{Ready: 5_421_703_308}}, false, BootSplit{}},
		{"no hello", runner.Boot{Trace: &wire.Trace{Kmsg: kmsg}, Timing: runner.Timing{Ready: 5_421_703_308}}, false, BootSplit{}},
		{"no trace", runner.Boot{}, false, BootSplit{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := SplitBoot(&tc.boot)
			if ok != tc.ok || s != tc.split {
				t.Errorf("got %+v %v, want %+v %v", s, ok, tc.split, tc.ok)
			}
			if ok && s.PreKernel+s.Kernel+s.Init+s.Agent != time.Duration(tc.boot.Timing.Ready) {
				t.Errorf("the parts add up to %v, not the boot's %v", s.PreKernel+s.Kernel+s.Init+s.Agent, time.Duration(tc.boot.Timing.Ready))
			}
		})
	}
}
