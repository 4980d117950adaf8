package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/klptest/klptest/wire"
)

// ParseProbe parses one read of /proc/klpt_tasks (see kmod/src/klpt_probe.c).
func ParseProbe(b []byte) (wire.Snapshot, error) {
	s := wire.Snapshot{Source: wire.SourceProbe}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return s, fmt.Errorf("probe: empty snapshot")
	}
	var n int
	if _, err := fmt.Sscanf(sc.Text(), "# klpt_tasks v1 t0=%d t1=%d n=%d", &s.T0, &s.T1, &n); err != nil {
		return s, fmt.Errorf("probe: bad header %q: %w", sc.Text(), err)
	}
	for sc.Scan() {
		if when, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# klp "), " "); ok && strings.HasPrefix(sc.Text(), "# klp ") {
			k, err := parseKLP(rest)
			if err != nil {
				return s, fmt.Errorf("probe: bad line %q: %w", sc.Text(), err)
			}
			switch when {
			case "before":
				s.Before = &k
			case "after":
				s.After = &k
			default:
				return s, fmt.Errorf("probe: bad line %q", sc.Text())
			}
			continue
		}
		f := strings.SplitN(sc.Text(), " ", 8)
		if len(f) != 8 {
			return s, fmt.Errorf("probe: bad line %q", sc.Text())
		}
		var v [7]int
		for i := 0; i < 7; i++ {
			x, err := strconv.Atoi(f[i])
			if err != nil {
				return s, fmt.Errorf("probe: bad field %d in %q", i, sc.Text())
			}
			v[i] = x
		}
		pending := v[3] != 0
		t := wire.TaskState{PID: v[0], TGID: v[1], State: v[2], Pending: &pending,
			Kthread: v[4] != 0, Idle: v[5] != 0, Comm: f[7]}
		if t.Idle {
			t.CPU = v[6]
		}
		s.Tasks = append(s.Tasks, t)
	}
	if len(s.Tasks) != n {
		return s, fmt.Errorf("probe: header says %d tasks, got %d", n, len(s.Tasks))
	}
	return s, sc.Err()
}

// parseKLP parses the fields of a "# klp" line: open=O goal=G counting=C
// missed=M rt0=NS rt1=NS gen=N inited=N started=N rev=N reversed=N force=N
// forced=N tries=N.
func parseKLP(fields string) (wire.KLPReading, error) {
	var k wire.KLPReading
	var open int
	if _, err := fmt.Sscanf(fields, "open=%d goal=%d counting=%d missed=%d rt0=%d rt1=%d gen=%d inited=%d started=%d rev=%d reversed=%d force=%d forced=%d tries=%d",
		&open, &k.Goal, &k.Counting, &k.Missed, &k.RT0, &k.RT1, &k.Gen, &k.Inited, &k.Started, &k.Rev, &k.Reversed, &k.Force, &k.Forced, &k.Tries); err != nil {
		return k, err
	}
	k.Open = open != 0
	return k, nil
}

// parseRecords parses one read of a probe's record file: the header
// "# klpt_NAME vV n=N dropped=D" (header holds its format, through the
// version), then N lines, each parsed by line. dropped is the probe's
// running count of records it had no room for.
func parseRecords[T any](b []byte, name, header string, line func(string) (T, error)) (evs []T, dropped int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return nil, 0, fmt.Errorf("%s: empty read", name)
	}
	var n int
	if _, err := fmt.Sscanf(sc.Text(), header+" n=%d dropped=%d", &n, &dropped); err != nil {
		return nil, 0, fmt.Errorf("%s: bad header %q: %w", name, sc.Text(), err)
	}
	for sc.Scan() {
		e, err := line(sc.Text())
		if err != nil {
			return nil, 0, fmt.Errorf("%s: bad line %q: %w", name, sc.Text(), err)
		}
		evs = append(evs, e)
	}
	if len(evs) != n {
		return nil, 0, fmt.Errorf("%s: header says %d, got %d", name, n, len(evs))
	}
	return evs, dropped, sc.Err()
}

// ParseForks parses one read of /proc/klpt_forks.
func ParseForks(b []byte) ([]wire.ForkEvent, int, error) {
	return parseRecords(b, "forks", "# klpt_forks v2", func(l string) (wire.ForkEvent, error) {
		e := wire.ForkEvent{Copied: true}
		var pp, cp, cop int
		_, err := fmt.Sscanf(l, "%d %d %d %d %d %d %d %d %d %d %d", &e.T, &e.PPID, &e.PTGID, &e.CPID, &e.CTGID,
			&e.PState, &pp, &e.CState, &cp, &e.CopiedState, &cop)
		e.PPending, e.CPending, e.CopiedPending = pp != 0, cp != 0, cop != 0
		return e, err
	})
}

// ParseExits parses one read of /proc/klpt_exits.
func ParseExits(b []byte) ([]wire.ExitCall, int, error) {
	return parseRecords(b, "exits", "# klpt_exits v2", func(l string) (wire.ExitCall, error) {
		var e wire.ExitCall
		var pend, listed, en0, en1 int
		_, err := fmt.Sscanf(l, "%d %d %d %d %d %d %d %d %d %d %d", &e.T0, &e.T1, &e.PID, &e.TGID, &e.Version,
			&e.State, &pend, &listed, &en0, &en1, &e.Open)
		e.Pending, e.Listed, e.Enabled0, e.Enabled1 = pend != 0, listed != 0, en0 != 0, en1 != 0
		return e, err
	})
}

// What a /proc/klpt_switches record is (its HOOK): klpt_uapi.h's
// KLPT_HOOK_*, which TestUAPI holds these to.
const (
	hookNone = 0 // an attempt of klp_check_and_switch_task()'s
	hookRun  = 1 // a run of the scheduler's switch point
)

// ParseSwitches parses one read of /proc/klpt_switches (its dropped count
// takes in the attempts the probe missed too).
func ParseSwitches(b []byte) ([]wire.SwitchAttempt, int, error) {
	return parseRecords(b, "switches", "# klpt_switches v3", func(l string) (wire.SwitchAttempt, error) {
		var e wire.SwitchAttempt
		var self, oncpu, runnable, pend, idle, cpu, hook int
		f := strings.Fields(l)
		if len(f) < 16 {
			return e, fmt.Errorf("%d fields", len(f))
		}
		if _, err := fmt.Sscanf(strings.Join(f[:15], " "), "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", &e.T, &e.PID, &e.TGID, &self, &oncpu, &runnable,
			&e.Where, &e.Entered, &e.Returned, &e.State, &pend, &e.Ret, &idle, &cpu, &hook); err != nil {
			return e, err
		}
		if hook == hookRun {
			// The caller, as %ps prints it: its name (and a module's
			// in brackets).
			e.Hook = strings.Join(f[15:], " ")
		}
		e.Self, e.OnCPU, e.Runnable, e.Pending, e.Idle = self != 0, oncpu != 0, runnable != 0, pend != 0, idle != 0
		if e.Idle {
			e.CPU = cpu
		}
		return e, nil
	})
}
