package runner

import (
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/wire"
)

func lookup(t *testing.T, names ...string) []cases.Case {
	t.Helper()
	cs, err := cases.Lookup(names)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// What each kind of boot asks of the agent and of QEMU; the agent reads
// the same parameters back (wire.ParseBootParams).
func TestBootConfig(t *testing.T) {
	img := &image{kernel: &kernels.Spec{Image: "/k/bzImage"}, initrd: "/i/initramfs.cpio", accel: "tcg"}
	term := &Terminal{In: strings.NewReader(""), Out: io.Discard}
	for _, tc := range []struct {
		name        string
		o           Options
		cs          []cases.Case
		mode        bootMode
		want        wire.BootParams
		cpus, memMB int
		interactive bool
		oopsPanic   bool
	}{
		{name: "cases", o: Options{StormTasks: 50, StormSeconds: 5, Vmcore: true}, cs: lookup(t, "patch", "fork-storm"),
			want: wire.BootParams{Cases: []string{"patch", "fork-storm"}, StormTasks: 50, StormSeconds: 5, Vmcore: true}},
		{name: "own CPUs", cs: lookup(t, "idle"), want: wire.BootParams{Cases: []string{"idle"}}, cpus: 4},
		{name: "selftests", cs: []cases.Case{cases.Kselftest("test-livepatch.sh")},
			want: wire.BootParams{Cases: []string{"kselftest:test-livepatch.sh"}, Suite: wire.SuiteKselftest}},
		{name: "shell", mode: bootMode{shell: term}, want: wire.BootParams{Shell: true}, interactive: true},
		{name: "shell on fail", o: Options{ShellOnFail: term}, cs: lookup(t, "patch"),
			want: wire.BootParams{Cases: []string{"patch"}, ShellOnFail: true}, interactive: true},
		{name: "bench", mode: bootMode{benchSnapshots: "100,1000"}, want: wire.BootParams{BenchSnapshots: "100,1000"}, memMB: benchMemoryMB},
		// A known finding's oops ends the VM at once.
		{name: "known finding", cs: lookup(t, "exits-unload"), want: wire.BootParams{Cases: []string{"exits-unload"}}, oopsPanic: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Arch = "x86_64"
			cfg := bootConfig(tc.o, img, tc.cs, tc.mode, "/run/console-0.log")
			got, err := wire.ParseBootParams(strings.Join(cfg.Cmdline, " "))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("boot params %+v, want %+v", got, tc.want)
			}
			if cfg.Kernel != "/k/bzImage" || cfg.Initrd != "/i/initramfs.cpio" || cfg.Accel != "tcg" || cfg.ConsoleLog != "/run/console-0.log" {
				t.Errorf("machine %+v", cfg)
			}
			if got := slices.Contains(cfg.Cmdline, "oops=panic"); got != tc.oopsPanic {
				t.Errorf("oops=panic on the command line: %v, want %v (%q)", got, tc.oopsPanic, cfg.Cmdline)
			}
			if cfg.CPUs != tc.cpus || cfg.MemoryMB != tc.memMB || cfg.Interactive != tc.interactive {
				t.Errorf("CPUs %d, memory %d MB, interactive %v; want %d, %d, %v", cfg.CPUs, cfg.MemoryMB, cfg.Interactive, tc.cpus, tc.memMB, tc.interactive)
			}
		})
	}
}

func TestBootTimeout(t *testing.T) {
	term := &Terminal{}
	patch := lookup(t, "patch")[0]
	storm := lookup(t, "fork-storm")[0]
	loop := lookup(t, "loop")[0]
	perCase := func(c cases.Case) time.Duration { return 2*time.Duration(c.BoundSeconds)*time.Second + 30*time.Second }
	for _, tc := range []struct {
		name string
		o    Options
		cs   []cases.Case
		mode bootMode
		want time.Duration
	}{
		{"derived", Options{}, []cases.Case{patch}, bootMode{}, 2*time.Minute + perCase(patch)},
		{"storm seconds", Options{StormSeconds: 300}, []cases.Case{storm}, bootMode{}, 2*time.Minute + perCase(storm) + 300*time.Second},
		// The loop's rounds run before its bound starts to count.
		{"repeat steps", Options{}, []cases.Case{loop}, bootMode{}, 2*time.Minute + perCase(loop) + cases.LoopSeconds*time.Second},
		{"vmcore", Options{Vmcore: true}, []cases.Case{patch}, bootMode{}, 2*time.Minute + perCase(patch) + vmcoreTimeout},
		{"given", Options{Timeout: 45 * time.Second}, []cases.Case{patch, storm}, bootMode{}, 45 * time.Second},
		{"bench", Options{}, nil, bootMode{benchSnapshots: "100"}, benchTimeout},
		{"shell: a person sets the pace", Options{Timeout: time.Minute}, nil, bootMode{shell: term}, 0},
		{"shell on fail", Options{ShellOnFail: term}, []cases.Case{patch}, bootMode{}, 0},
	} {
		if got := bootTimeout(tc.o, tc.cs, tc.mode); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
