package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/klptest/klptest/wire"
)

// WriteTable prints the report as the table klptest bench shows: median
// [min-max] of every measurement, and each goal's ratio against it.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(f string, a ...any) { fmt.Fprintf(tw, f+"\n", a...) }
	p("# klptest bench: %s (%s), %s, %s, %s; %d runs; median [min-max]", r.Kernel, r.Release, r.Arch, r.Accel, r.QEMU, r.Runs)
	p("boot\t\t")
	bare, ready := Summarize(r.Bare), Summarize(r.FirstReady())
	p("  bare boot: QEMU start to a static init's line\t%s\t", stat(bare))
	p("  agent ready: QEMU start to the agent's hello\t%s\t%s", stat(ready), goal("ratio", r.BootRatio(), GoalBootRatio))
	if pre, k, in, ag := r.firstBootSplits(); len(pre) > 0 {
		p("    before the guest's clock: QEMU, firmware, decompression\t%s\t", stat(Summarize(pre)))
		p("    kernel to /init, the initramfs unpacked\t%s\t", stat(Summarize(k)))
		p("    u-root init to the agent's start\t%s\t", stat(Summarize(in)))
		p("    agent's start to hello: mounts, drivers, result port\t%s\t", stat(Summarize(ag)))
	}

	if len(r.Suite) > 0 {
		var wall, prep, vm, kernel, agent, check, own []time.Duration
		for _, s := range r.Suite {
			wall = append(wall, s.Wall)
			prep = append(prep, s.Prepare)
			var v, a time.Duration
			for _, d := range s.VM {
				v += d
			}
			for _, c := range s.Cases {
				a += c.Agent()
			}
			vm = append(vm, v)
			kernel = append(kernel, s.Kernel())
			agent = append(agent, a)
			check = append(check, s.Check)
			own = append(own, s.Wall-s.Prepare-v-s.Check)
		}
		s0 := r.Suite[0]
		p("suite: %d cases in %d boots\t\t", len(s0.Cases), s0.Boots)
		p("  wall, call to every verdict\t%s\t", stat(Summarize(wall)))
		p("  host: kernel, modules, image (cache)\t%s\t", stat(Summarize(prep)))
		p("  host: VMs, QEMU start to exit\t%s\t", stat(Summarize(vm)))
		p("    guest: kernel's inherent waits\t%s\t", stat(Summarize(kernel)))
		p("    guest: agent's own time in cases\t%s\t", stat(Summarize(agent)))
		p("  host: check\t%s\t", stat(Summarize(check)))
		p("  host: the rest\t%s\t", stat(Summarize(own)))
		p("  overhead: wall / (inherent waits + %d bare boots)\t\t%s", s0.Boots, goal("ratio", r.OverheadRatio(), GoalOverheadRatio))
		p("per case\twall\tkernel waits / agent / host")
		for _, name := range caseOrder(r.Suite) {
			var wl, k, a, h []time.Duration
			for _, s := range r.Suite {
				for _, c := range s.Cases {
					if c.Case == name {
						wl, k, a, h = append(wl, c.Wall), append(k, c.Kernel), append(a, c.Agent()), append(h, c.Host())
					}
				}
			}
			p("  %s\t%s\t%s / %s / %s", name, stat(Summarize(wl)), Seconds(Summarize(k).Median), Seconds(Summarize(a).Median), Seconds(Summarize(h).Median))
		}
	}
	if len(r.Kselftest) > 0 {
		var wall []time.Duration
		for _, k := range r.Kselftest {
			wall = append(wall, k.Wall)
		}
		ks := Summarize(wall)
		p("kernel selftests: %d scripts in %d boot\t\t", len(r.Kselftest[0].Cases), r.Kselftest[0].Boots)
		ratio := ""
		if len(r.Suite) > 0 {
			var sw []time.Duration
			for _, s := range r.Suite {
				sw = append(sw, s.Wall)
			}
			ratio = fmt.Sprintf("%.2f of klptest's suite", ks.Median.Seconds()/Summarize(sw).Median.Seconds())
		}
		p("  wall, call to every verdict\t%s\t%s", stat(ks), ratio)
		for _, name := range caseOrder(r.Kselftest) {
			var wl []time.Duration
			for _, k := range r.Kselftest {
				for _, c := range k.Cases {
					if c.Case == name {
						wl = append(wl, c.Wall)
					}
				}
			}
			p("  %s\t%s\t", name, stat(Summarize(wl)))
		}
	}
	if len(r.Warm) > 0 {
		ws := Summarize(r.Warm)
		p("warm loop: klptest run --case patch, command to verdict\t%s\t(goal <= %s)%s", stat(ws), Seconds(GoalWarmLoop), met(ws.Median <= GoalWarmLoop))
	}
	if len(r.Snapshots) > 0 {
		p("snapshot of every task\tmedian [min-max]\trate")
		for _, s := range r.Snapshots {
			if s.Err != "" {
				p("  %s, %d tasks\tfailed: %s\t", s.Source, s.Tasks, s.Err)
				continue
			}
			goal := ""
			// The goal is klptest's own snapshots, the probe's; /proc
			// is the independent check, read as often as it can be.
			if s.Tasks >= 10000 && s.Source == wire.SourceProbe {
				goal = fmt.Sprintf(" (goal >= %.0f Hz)%s", GoalSnapshotHz, met(s.Hz() >= GoalSnapshotHz))
			}
			p("  %s, %d tasks\t%s\t%.1f Hz%s", s.Source, s.Tasks, stat(s.Stat), s.Hz(), goal)
		}
	}
	if r.Cold != nil {
		var parts []string
		for _, k := range []string{"kernel", "modules", "initramfs", "boot", "vm", "check"} {
			if d, ok := r.Cold.Steps[k]; ok {
				parts = append(parts, fmt.Sprintf("%s %s", k, Seconds(d)))
			}
		}
		p("cold start: empty cache to first verdict\t%s\t%s", Seconds(r.Cold.Wall), strings.Join(parts, ", "))
	}
	for _, e := range r.Errors {
		p("not measured: %s\t\t", e)
	}
	return tw.Flush()
}

func stat(s Stat) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 {
		return Seconds(s.Median)
	}
	return fmt.Sprintf("%s [%s-%s]", Seconds(s.Median), Seconds(s.Min), Seconds(s.Max))
}

// goal shows a ratio against the most it may be; a ratio of zero lacks one
// of its figures.
func goal(what string, v, most float64) string {
	if v == 0 {
		return what + " - (a figure is missing)"
	}
	return fmt.Sprintf("%s %.2f (goal <= %.2f)%s", what, v, most, met(v <= most))
}

func met(ok bool) string {
	if ok {
		return ", met"
	}
	return ", NOT met"
}

// caseOrder is the cases in the order the first run ran them.
func caseOrder(runs []Run) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range runs {
		for _, c := range r.Cases {
			if !seen[c.Case] {
				seen[c.Case] = true
				out = append(out, c.Case)
			}
		}
	}
	return out
}

// firstBootSplits are the suite runs' first boots' splits, part by part,
// for the runs whose trace allows one.
func (r *Report) firstBootSplits() (pre, kernel, uinit, agent []time.Duration) {
	for _, s := range r.Suite {
		if b := s.FirstBoot; b != nil {
			pre, kernel = append(pre, b.PreKernel), append(kernel, b.Kernel)
			uinit, agent = append(uinit, b.Init), append(agent, b.Agent)
		}
	}
	return
}
