package agent

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/klptest/klptest/wire"
)

func TestAddCall(t *testing.T) {
	calls := []klptCall{
		{T0: 100, T1: 110, Before: 0, After: 0, Version: 1},
		{T0: 120, T1: 130, Before: 0, After: 0, Version: 1},
		{T0: 140, T1: 150, Before: 0, After: 1, Version: 1}, // switched during the call
		{T0: 160, T1: 170, Before: 1, After: 1, Version: 2},
		{T0: 180, T1: 190, Before: 1, After: 1, Version: 2},
		{T0: 30_000_000, T1: 30_000_010, Before: 1, After: 1, Version: 2}, // past MaxGroupSpanNS
	}
	var g []wire.CallGroup
	for _, c := range calls {
		g = addCall(g, 7, c)
	}
	want := []wire.CallGroup{
		{TID: 7, Before: 0, Version: 1, After: 0, N: 2, T0: 100, T1: 130},
		{TID: 7, Before: 0, Version: 1, After: 1, N: 1, T0: 140, T1: 150},
		{TID: 7, Before: 1, Version: 2, After: 1, N: 2, T0: 160, T1: 190},
		{TID: 7, Before: 1, Version: 2, After: 1, N: 1, T0: 30_000_000, T1: 30_000_010},
	}
	if len(g) != len(want) {
		t.Fatalf("got %d groups %+v, want %d", len(g), g, len(want))
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("group %d = %+v, want %+v", i, g[i], want[i])
		}
	}
}

func TestParseKmsg(t *testing.T) {
	tests := []struct {
		rec  string
		want wire.KmsgLine
		ok   bool
	}{
		{"5,812,4629365,-;livepatch: enabling patch 'klpt_patch'\n", wire.KmsgLine{Seq: 812, TS: 4629365, Prio: 5, Msg: "livepatch: enabling patch 'klpt_patch'"}, true},
		{"12,3,100,-;WARNING: CPU: 1 PID: 5 at x\n SUBSYSTEM=foo\n", wire.KmsgLine{Seq: 3, TS: 100, Prio: 4, Msg: "WARNING: CPU: 1 PID: 5 at x"}, true},
		{"garbage", wire.KmsgLine{}, false},
		{"a,b,c;msg", wire.KmsgLine{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseKmsg(tt.rec)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseKmsg(%q) = %+v, %v; want %+v, %v", tt.rec, got, ok, tt.want, tt.ok)
		}
	}
}

// Every thread of the process takes the role's name, those the runtime
// had already started and those started after; a name too long for a task
// is cut where the kernel cuts it.
func TestNameThreads(t *testing.T) {
	comm := func(tid int) string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/comm", tid))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	// holdThread keeps a goroutine locked to a thread of its own until
	// the test ends, so that the process has one more thread to name.
	release := make(chan struct{})
	defer close(release)
	holdThread := func() {
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			close(locked)
			<-release
		}()
		<-locked
	}
	// Threads started before.
	for range 4 {
		holdThread()
	}

	const want = "klpt-storm-chil" // "klpt-storm-child" less its 16th byte
	nameThreads("klpt-storm-child")
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) < 5 {
		t.Fatalf("%d threads; the test wants at least 5", len(tids))
	}
	for _, d := range tids {
		tid, _ := strconv.Atoi(d.Name())
		if got := comm(tid); got != want {
			t.Errorf("thread %d is %q, want %q", tid, got, want)
		}
	}
	// Threads started after: goroutines locked to threads until the
	// process has one it did not have when it was named.
	named := map[string]bool{}
	for _, d := range tids {
		named[d.Name()] = true
	}
	var later []string
	for i := 0; i < 16 && len(later) == 0; i++ {
		holdThread()
		now, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range now {
			if !named[d.Name()] {
				later = append(later, d.Name())
			}
		}
	}
	if len(later) == 0 {
		t.Fatal("no thread started after the naming")
	}
	for _, d := range later {
		tid, _ := strconv.Atoi(d)
		if got := comm(tid); got != want {
			t.Errorf("thread %d, started after, is %q, want %q", tid, got, want)
		}
	}
}
