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

// ParseForks parses one read of /proc/klpt_forks; dropped is the probe's
// running count of records it had no room for.
func ParseForks(b []byte) (evs []wire.ForkEvent, dropped int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return nil, 0, fmt.Errorf("forks: empty read")
	}
	var n int
	if _, err := fmt.Sscanf(sc.Text(), "# klpt_forks v2 n=%d dropped=%d", &n, &dropped); err != nil {
		return nil, 0, fmt.Errorf("forks: bad header %q: %w", sc.Text(), err)
	}
	for sc.Scan() {
		e := wire.ForkEvent{Copied: true}
		var pp, cp, cop int
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %d %d %d %d %d %d %d %d", &e.T, &e.PPID, &e.PTGID, &e.CPID, &e.CTGID,
			&e.PState, &pp, &e.CState, &cp, &e.CopiedState, &cop); err != nil {
			return nil, 0, fmt.Errorf("forks: bad line %q: %w", sc.Text(), err)
		}
		e.PPending, e.CPending, e.CopiedPending = pp != 0, cp != 0, cop != 0
		evs = append(evs, e)
	}
	if len(evs) != n {
		return nil, 0, fmt.Errorf("forks: header says %d, got %d", n, len(evs))
	}
	return evs, dropped, sc.Err()
}

// ParseExits parses one read of /proc/klpt_exits; dropped is the probe's
// running count of records it had no room for.
func ParseExits(b []byte) (evs []wire.ExitCall, dropped int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return nil, 0, fmt.Errorf("exits: empty read")
	}
	var n int
	if _, err := fmt.Sscanf(sc.Text(), "# klpt_exits v2 n=%d dropped=%d", &n, &dropped); err != nil {
		return nil, 0, fmt.Errorf("exits: bad header %q: %w", sc.Text(), err)
	}
	for sc.Scan() {
		var e wire.ExitCall
		var pend, listed, en0, en1 int
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %d %d %d %d %d %d %d %d", &e.T0, &e.T1, &e.PID, &e.TGID, &e.Version,
			&e.State, &pend, &listed, &en0, &en1, &e.Open); err != nil {
			return nil, 0, fmt.Errorf("exits: bad line %q: %w", sc.Text(), err)
		}
		e.Pending, e.Listed, e.Enabled0, e.Enabled1 = pend != 0, listed != 0, en0 != 0, en1 != 0
		evs = append(evs, e)
	}
	if len(evs) != n {
		return nil, 0, fmt.Errorf("exits: header says %d, got %d", n, len(evs))
	}
	return evs, dropped, sc.Err()
}

// What a /proc/klpt_switches record is (its HOOK): klpt_uapi.h's
// KLPT_HOOK_*, which TestUAPI holds these to.
const (
	hookNone = 0 // an attempt of klp_check_and_switch_task()'s
	hookRun  = 1 // a run of the scheduler's switch point
)

// ParseSwitches parses one read of /proc/klpt_switches; dropped is the
// probe's running count of records it had no room for or missed.
func ParseSwitches(b []byte) (evs []wire.SwitchAttempt, dropped int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return nil, 0, fmt.Errorf("switches: empty read")
	}
	var n int
	if _, err := fmt.Sscanf(sc.Text(), "# klpt_switches v3 n=%d dropped=%d", &n, &dropped); err != nil {
		return nil, 0, fmt.Errorf("switches: bad header %q: %w", sc.Text(), err)
	}
	for sc.Scan() {
		var e wire.SwitchAttempt
		var self, oncpu, runnable, pend, idle, cpu, hook int
		f := strings.Fields(sc.Text())
		if len(f) < 16 {
			return nil, 0, fmt.Errorf("switches: bad line %q: %d fields", sc.Text(), len(f))
		}
		if _, err := fmt.Sscanf(strings.Join(f[:15], " "), "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", &e.T, &e.PID, &e.TGID, &self, &oncpu, &runnable,
			&e.Where, &e.Entered, &e.Returned, &e.State, &pend, &e.Ret, &idle, &cpu, &hook); err != nil {
			return nil, 0, fmt.Errorf("switches: bad line %q: %w", sc.Text(), err)
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
		evs = append(evs, e)
	}
	if len(evs) != n {
		return nil, 0, fmt.Errorf("switches: header says %d, got %d", n, len(evs))
	}
	return evs, dropped, sc.Err()
}
