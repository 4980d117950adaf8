package agent

import (
	"os"
	"reflect"
	"testing"

	"github.com/klptest/klptest/wire"
)

func TestParseProbe(t *testing.T) {
	b, err := os.ReadFile("testdata/klpt_tasks.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseProbe(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.T0 != 5000000000 || s.T1 != 5000100000 || len(s.Tasks) != 5 {
		t.Fatalf("header: got t0=%d t1=%d n=%d", s.T0, s.T1, len(s.Tasks))
	}
	tests := []struct {
		i                      int
		key, comm              string
		state                  int
		pending, kthread, idle bool
	}{
		{0, "1", "init", -1, false, false, false},
		{1, "2", "kthreadd", 0, true, true, false},
		{2, "57", "klptest agent", 1, false, false, false},
		{4, "idle/1", "swapper/1", -1, false, true, true},
	}
	for _, tt := range tests {
		got := s.Tasks[tt.i]
		if got.Key() != tt.key || got.Comm != tt.comm || got.State != tt.state || *got.Pending != tt.pending || got.Kthread != tt.kthread || got.Idle != tt.idle {
			t.Errorf("task %d: got %+v (pending %v)", tt.i, got, *got.Pending)
		}
	}
	if s.Before != nil || s.After != nil {
		t.Errorf("transition records from a probe without them: %+v %+v", s.Before, s.After)
	}
	for _, bad := range []string{"", "garbage\n", "# klpt_tasks v1 t0=1 t1=2 n=2\n1 1 -1 0 0 0 -1 init\n", "# klpt_tasks v1 t0=1 t1=2 n=1\n1 x -1 0 0 0 -1 init\n",
		"# klpt_tasks v1 t0=1 t1=2 n=0\n# klp during open=1 goal=1 ftrace=1 gen=1 inited=1 started=1 rev=0 reversed=0 force=0 forced=0 tries=0\n",
		"# klpt_tasks v1 t0=1 t1=2 n=0\n# klp before open=1 goal=1 gen=x\n"} {
		if _, err := ParseProbe([]byte(bad)); err == nil {
			t.Errorf("ParseProbe(%q): no error", bad)
		}
	}
}

// A probe that reads the transition's state gives it before and after its
// pass.
func TestParseProbeKLP(t *testing.T) {
	b, err := os.ReadFile("testdata/klpt_tasks_klp.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseProbe(b)
	if err != nil {
		t.Fatal(err)
	}
	before := wire.KLPReading{Open: true, Goal: 1, Counting: 1, RT0: 7000000100, RT1: 7000000900, Gen: 3, Inited: 3, Started: 2, Tries: 4}
	after := wire.KLPReading{Open: true, Goal: 0, Counting: 1, Missed: 2, RT0: 7000199000, RT1: 7000199800, Gen: 3, Inited: 3, Started: 3, Rev: 1, Reversed: 1, Tries: 4}
	if s.Before == nil || *s.Before != before || s.After == nil || *s.After != after || len(s.Tasks) != 2 {
		t.Errorf("got before %+v after %+v and %d tasks; want %+v, %+v and 2", s.Before, s.After, len(s.Tasks), before, after)
	}
}

func TestParseForks(t *testing.T) {
	evs, dropped, err := ParseForks([]byte("# klpt_forks v2 n=2 dropped=3\n100 50 50 51 51 0 1 0 1 0 0\n200 50 50 52 50 1 0 1 0 1 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.ForkEvent{
		{T: 100, PPID: 50, PTGID: 50, CPID: 51, CTGID: 51, PState: 0, PPending: true, CState: 0, CPending: true, Copied: true},
		{T: 200, PPID: 50, PTGID: 50, CPID: 52, CTGID: 50, PState: 1, CState: 1, Copied: true, CopiedState: 1, CopiedPending: true},
	}
	if dropped != 3 || !reflect.DeepEqual(evs, want) {
		t.Errorf("got %+v dropped %d, want %+v dropped 3", evs, dropped, want)
	}
	for _, bad := range []string{
		"# klpt_forks v2 n=2 dropped=0\n100 50 50 51 51 0 1 0 1 0 0\n", // short
		"# klpt_forks v1 n=1 dropped=0\n100 50 50 51 51 0 1 0 1\n",     // a probe of another build
		"# klpt_forks v2 n=1 dropped=0\n100 50 50 51 51 0 1 0 1\n",     // no copy
	} {
		if _, _, err := ParseForks([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestParseExits(t *testing.T) {
	evs, dropped, err := ParseExits([]byte("# klpt_exits v2 n=2 dropped=4\n100 1100 70 60 2 0 1 0 1 0 1\n200 1200 71 60 3 -1 0 0 1 1 -1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.ExitCall{
		{T0: 100, T1: 1100, PID: 70, TGID: 60, Version: 2, State: 0, Pending: true, Enabled0: true, Open: 1},
		{T0: 200, T1: 1200, PID: 71, TGID: 60, Version: 3, State: -1, Enabled0: true, Enabled1: true, Open: -1},
	}
	if dropped != 4 || !reflect.DeepEqual(evs, want) || !evs[0].Outlived() || evs[1].Outlived() {
		t.Errorf("got %+v dropped %d, want %+v dropped 4 (the first outlived its patch)", evs, dropped, want)
	}
	for _, bad := range []string{
		"# klpt_exits v2 n=2 dropped=0\n100 1100 70 60 2 0 1 0 1 0 1\n", // short
		"# klpt_exits v1 n=1 dropped=0\n100 1100 70 60 2 0 1 0 1 0\n",   // a probe of another build
		"# klpt_exits v2 n=1 dropped=0\n100 1100 70 60 2 0 1 0 1 0\n",   // no OPEN
	} {
		if _, _, err := ParseExits([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestParseSwitches(t *testing.T) {
	evs, dropped, err := ParseSwitches([]byte("# klpt_switches v3 n=4 dropped=1\n100 60 60 0 1 1 1 1 0 0 1 -16 0 -1 0 0x0\n200 61 61 1 0 0 2 2 0 1 1 -98 0 -1 0 0x0\n300 0 0 0 1 1 0 0 0 0 1 -16 1 3 0 0x0\n400 62 62 1 1 0 0 0 0 0 1 1 0 -1 1 __schedule\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.SwitchAttempt{
		{T: 100, PID: 60, TGID: 60, OnCPU: true, Runnable: true, Where: wire.ChainAtSpin, Entered: 1, Pending: true, Ret: wire.ErrnoBusy},
		{T: 200, PID: 61, TGID: 61, Self: true, Where: wire.ChainAtPark, Entered: 2, State: 1, Pending: true, Ret: wire.ErrnoAddrInUse},
		{T: 300, OnCPU: true, Runnable: true, Pending: true, Ret: wire.ErrnoBusy, Idle: true, CPU: 3},
		{T: 400, PID: 62, TGID: 62, Self: true, OnCPU: true, Pending: true, Ret: wire.HookRet, Hook: "__schedule"},
	}
	if dropped != 1 || !reflect.DeepEqual(evs, want) {
		t.Errorf("got %+v dropped %d, want %+v dropped 1", evs, dropped, want)
	}
	for _, bad := range []string{
		"",
		"# klpt_switches v3 n=2 dropped=0\n100 60 60 0 1 1 1 1 0 0 1 -16 0 -1 0 0x0\n", // short
		"# klpt_switches v2 n=1 dropped=0\n100 60 60 0 1 1 1 1 0 0 1 -16 0 -1\n",       // a probe of another build
		"# klpt_switches v3 n=1 dropped=0\n100 60 60 0 1 1 1 1 0 0 1 -16 0 -1 0\n",     // no caller column
	} {
		if _, _, err := ParseSwitches([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
