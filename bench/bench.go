// Package bench owns klptest bench's arithmetic: the statistics of repeated
// measurements, the split of a run's time into the kernel's inherent waits,
// the agent's own time and the host's, the goals' ratios, and the table. It
// reads run results and does no I/O beyond writing the table.
package bench

import (
	"fmt"
	"sort"
	"time"

	"github.com/klptest/klptest/runner"
	"github.com/klptest/klptest/wire"
)

// Goals from the issue that asked for the benchmark.
const (
	GoalBootRatio     = 1.15             // agent ready over bare boot
	GoalOverheadRatio = 1.2              // suite wall over inherent waits plus bare boots
	GoalWarmLoop      = 10 * time.Second // klptest run --case patch, on x86_64 TCG
	GoalSnapshotHz    = 10.0             // whole snapshots a second at 10,000 tasks
)

// Stat summarizes repeated measurements of one quantity.
type Stat struct {
	N      int           `json:"n"`
	Median time.Duration `json:"median_ns"`
	Min    time.Duration `json:"min_ns"`
	Max    time.Duration `json:"max_ns"`
}

// Summarize returns the median, minimum and maximum of ds; the median of
// an even count is the mean of the middle two.
func Summarize(ds []time.Duration) Stat {
	if len(ds) == 0 {
		return Stat{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{N: len(s), Median: m, Min: s[0], Max: s[len(s)-1]}
}

// CaseSplit is where one case's time went, in one run.
type CaseSplit struct {
	Case string `json:"case"`
	// Wall: the host got the case's start, then its end event.
	Wall time.Duration `json:"wall_ns"`
	// Guest: the case's start to its end, on the guest's clock.
	Guest time.Duration `json:"guest_ns"`
	// Kernel: guest time waiting on the kernel's own work: transitions
	// from the write that starts them to the read that sees them
	// complete (the once-a-second retries, the fake signals), and module
	// loads and unloads.
	Kernel time.Duration `json:"kernel_ns"`
}

// Agent is the guest time the agent spent on its own: settling, parking,
// workers, snapshots, cleanup.
func (c CaseSplit) Agent() time.Duration { return c.Guest - c.Kernel }

// Host is the case's wall time the guest's clock does not account for:
// event delivery and the host's reading.
func (c CaseSplit) Host() time.Duration {
	if c.Wall < c.Guest {
		return 0
	}
	return c.Wall - c.Guest
}

// SplitCases splits every case of a boot that ran to its end.
func SplitCases(b *runner.Boot) []CaseSplit {
	if b == nil || b.Trace == nil {
		return nil
	}
	host := map[string]runner.CaseTiming{}
	for _, t := range b.Timing.Cases {
		host[t.Case] = t
	}
	var out []CaseSplit
	for _, ct := range b.Trace.Cases {
		if ct.Start == nil || ct.End == nil {
			continue
		}
		c := CaseSplit{Case: ct.Name, Guest: time.Duration(ct.End.T - ct.Start.T), Kernel: KernelWait(ct)}
		if t, ok := host[ct.Name]; ok && t.End > t.Start {
			c.Wall = time.Duration(t.End - t.Start)
		}
		out = append(out, c)
	}
	return out
}

// KernelWait is the guest time of a case spent waiting on the kernel: the
// union of every transition in flight, from the op that starts it
// (enable, disable) to the op that ends it (complete, timeout), and of
// the module loads and unloads, clipped to the case.
func KernelWait(ct *wire.CaseTrace) time.Duration {
	if ct.Start == nil || ct.End == nil {
		return 0
	}
	type span struct{ a, b int64 }
	var spans []span
	open := int64(-1)
	for _, o := range ct.Ops {
		switch o.Kind {
		case wire.OpEnable, wire.OpDisable:
			if open < 0 {
				open = o.T0
			}
		case wire.OpComplete, wire.OpTimeout:
			if open >= 0 {
				spans = append(spans, span{open, o.T1})
				open = -1
			}
		case wire.OpLoad, wire.OpRemove, wire.OpUnload, wire.OpBusy:
			spans = append(spans, span{o.T0, o.T1})
		}
	}
	if open >= 0 { // cut short: in flight until the case ended
		spans = append(spans, span{open, ct.End.T})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].a < spans[j].a })
	var total, end int64
	end = ct.Start.T
	for _, s := range spans {
		a, b := max(s.a, end), min(s.b, ct.End.T)
		if b > a {
			total += b - a
			end = b
		}
	}
	return time.Duration(total)
}

// Run is one measured suite run.
type Run struct {
	// Wall: runner.Run's call to its return, every verdict in.
	Wall time.Duration `json:"wall_ns"`
	// Prepare: resolving the kernel, building modules and the image
	// (cache hits when warm).
	Prepare time.Duration `json:"prepare_ns"`
	Boots   int           `json:"boots"`
	// Ready: each boot's QEMU start to the agent's hello.
	Ready []time.Duration `json:"ready_ns"`
	// VM: each boot's QEMU start to QEMU gone.
	VM    []time.Duration `json:"vm_ns"`
	Check time.Duration   `json:"check_ns"`
	Cases []CaseSplit     `json:"cases"`
	// FirstBoot is the first boot's Ready, split, where its trace allows:
	// the boot Report.FirstReady compares with the bare one.
	FirstBoot *BootSplit `json:"first_boot,omitempty"`
}

// Kernel is the run's inherent kernel waits, over all its cases.
func (r Run) Kernel() time.Duration {
	var t time.Duration
	for _, c := range r.Cases {
		t += c.Kernel
	}
	return t
}

// NewRun reads a suite run's result, with its wall time.
func NewRun(res *runner.Result, wall time.Duration) Run {
	r := Run{Wall: wall, Boots: len(res.Boots), Check: res.Phases["check"],
		Prepare: res.Phases["kernel"] + res.Phases["modules"] + res.Phases["initramfs"]}
	if len(res.Boots) > 0 {
		if bs, ok := SplitBoot(res.Boots[0]); ok {
			r.FirstBoot = &bs
		}
	}
	for _, b := range res.Boots {
		r.Ready = append(r.Ready, time.Duration(b.Timing.Ready))
		r.VM = append(r.VM, time.Duration(b.Timing.Exit))
		r.Cases = append(r.Cases, SplitCases(b)...)
	}
	return r
}

// BootSplit is where one boot's time to the agent's hello went, read from
// its trace: the guest's clocks start with the kernel, so what the host
// waited before that is QEMU's start, the firmware and the kernel's
// decompression. Guest parts cross two clocks (the kernel log's and
// CLOCK_MONOTONIC, both from the kernel's start), good to milliseconds.
type BootSplit struct {
	PreKernel time.Duration `json:"pre_kernel_ns"` // QEMU start to the guest clock's 0: host ready minus the guest's hello time
	Kernel    time.Duration `json:"kernel_ns"`     // to "Run /init as init process", the initramfs unpacked
	Init      time.Duration `json:"init_ns"`       // u-root init: /init to the agent's start
	Agent     time.Duration `json:"agent_ns"`      // the agent's start to its hello: mounts, drivers, the result port
}

// InitLine is the kernel's log line as it starts /init.
const InitLine = "Run /init as init process"

// SplitBoot splits b's QEMU start to hello; ok is false for a boot whose
// trace lacks what it needs (an agent before the hello's clock fields).
func SplitBoot(b *runner.Boot) (s BootSplit, ok bool) {
	tr := b.Trace
	if tr == nil || tr.Hello == nil || tr.Hello.Sent == 0 || tr.Hello.AgentStart == 0 || b.Timing.Ready == 0 {
		return s, false
	}
	var initUS uint64
	for _, k := range tr.Kmsg {
		if k.Msg == InitLine {
			initUS = k.TS
			break
		}
	}
	if initUS == 0 {
		return s, false
	}
	h := tr.Hello
	s = BootSplit{
		PreKernel: time.Duration(b.Timing.Ready - h.Sent),
		Kernel:    time.Duration(initUS) * time.Microsecond,
		Init:      time.Duration(h.AgentStart) - time.Duration(initUS)*time.Microsecond,
		Agent:     time.Duration(h.Sent - h.AgentStart),
	}
	return s, true
}

// SnapshotRate is one snapshot-cost measurement's summary.
type SnapshotRate struct {
	Source string `json:"source"`
	Tasks  int    `json:"tasks"`
	Stat   Stat   `json:"stat"`
	Err    string `json:"err,omitempty"`
}

// Hz is whole snapshots a second at the median cost.
func (s SnapshotRate) Hz() float64 {
	if s.Stat.Median <= 0 {
		return 0
	}
	return float64(time.Second) / float64(s.Stat.Median)
}

// SnapshotRates summarizes a snapshot-cost boot's measurements.
func SnapshotRates(tr *wire.Trace) []SnapshotRate {
	if tr == nil {
		return nil
	}
	var out []SnapshotRate
	for _, c := range tr.Bench {
		var ds []time.Duration
		for _, d := range c.Durations {
			ds = append(ds, time.Duration(d))
		}
		out = append(out, SnapshotRate{Source: c.Source, Tasks: c.Tasks, Stat: Summarize(ds), Err: c.Err})
	}
	return out
}

// ColdStart is one run from an empty cache to its first verdict.
type ColdStart struct {
	Wall  time.Duration            `json:"wall_ns"`
	Steps map[string]time.Duration `json:"steps_ns"` // runner.Result.Phases
}

// Report is everything one klptest bench measured.
type Report struct {
	Schema  string `json:"schema"`
	Version int    `json:"version"`
	Kernel  string `json:"kernel"`  // the spec asked for
	Release string `json:"release"` // what it resolved to
	Arch    string `json:"arch"`
	Accel   string `json:"accel"`
	QEMU    string `json:"qemu"`
	Klptest string `json:"klptest"`
	Runs    int    `json:"runs"`
	// Bare and Ready: QEMU start to the bare init's line, and to the
	// agent's hello in the suite's first boot.
	Bare      []time.Duration `json:"bare_ns"`
	Suite     []Run           `json:"suite"`
	Warm      []time.Duration `json:"warm_ns,omitempty"` // klptest run --case patch, command to verdict
	Snapshots []SnapshotRate  `json:"snapshots,omitempty"`
	Cold      *ColdStart      `json:"cold,omitempty"`
	// Kselftest are runs of the kernel's own livepatch selftests
	// (klptest run --suite kselftest) on the same kernel and QEMU.
	Kselftest []Run `json:"kselftest,omitempty"`
	// Errors are the measurements that could not be taken.
	Errors []string `json:"errors,omitempty"`
}

// FirstReady is each suite run's first boot's QEMU start to hello: the
// boot measured the same way as the bare one, its caches warm.
func (r *Report) FirstReady() []time.Duration {
	var out []time.Duration
	for _, s := range r.Suite {
		if len(s.Ready) > 0 {
			out = append(out, s.Ready[0])
		}
	}
	return out
}

// BootRatio is the agent's ready over the bare boot, medians.
func (r *Report) BootRatio() float64 {
	return ratio(Summarize(r.FirstReady()).Median, Summarize(r.Bare).Median)
}

// OverheadRatio is the suite's wall over what the kernel makes it wait:
// its inherent waits plus one bare boot for each of its boots, medians.
func (r *Report) OverheadRatio() float64 {
	var wall, floor []time.Duration
	bare := Summarize(r.Bare).Median
	for _, s := range r.Suite {
		wall = append(wall, s.Wall)
		floor = append(floor, s.Kernel()+time.Duration(s.Boots)*bare)
	}
	return ratio(Summarize(wall).Median, Summarize(floor).Median)
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Seconds formats a duration as seconds with two decimals, or as
// milliseconds below a second.
func Seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
