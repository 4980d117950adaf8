package check

import (
	"fmt"
	"strings"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// The fake signal's timing. klp_try_complete_transition() calls
// klp_send_signals() only when the transition's failed tries before this
// one (klp_signals_cnt) are a non-zero multiple of SIGNALS_TIMEOUT (15):
// at a run's 16th try, then every 15th. A run begins where
// klp_start_transition() zeroes the count: when klp_enable_patch() or a
// disable starts a transition, and inside klp_reverse_transition(). A
// parked task that left klpt_park_func() before its release was woken by
// that signal (wire.ParkResult.Woke), so by the time it woke the run that
// signalled it had entered its 16th try. The probe's readings count the
// tries (KLPReading.Tries) and mark runs by their counts of
// klp_start_transition() and klp_reverse_transition() returns, which
// change only after the count was zeroed and before the run's first try
// (both run under klp_mutex, which the tries take too).

// minSignalTry is the try of a run at which the kernel first signals.
const minSignalTry = 16

// runKey names the run a reading was taken in.
type runKey struct{ started, reversed int64 }

func keyOf(r reading) runKey { return runKey{r.k.Started, r.k.Reversed} }

// wakeTryBound returns the most tries any run could have made by time
// woke, counting from its own start, over every run that could have been
// open between parked (when the task began its sleep) and woke. ok is
// false when the readings cannot bound it: none after woke, a blind one
// on the way, or a run open before parked whose start no reading brackets.
//
// A run that began after reading i made its first try after T(i), so by
// woke it made at most T(j) - T(i) tries, j the first reading after woke;
// the earliest run that could be open gives the largest bound, since a
// later one began later.
func wakeTryBound(rs []reading, parked, woke int64) (bound int64, ok bool) {
	i0, i1 := -1, -1
	for i, r := range rs {
		if r.hi <= parked {
			i0 = i
		}
		if i1 < 0 && r.lo >= woke {
			i1 = i
		}
	}
	if i1 < 0 {
		return 0, false
	}
	if i0 < 0 {
		i0 = 0
		if rs[0].lo < parked {
			return 0, false // the first reading may be after the sleep began
		}
	}
	for _, r := range rs[i0 : i1+1] {
		if r.blind {
			return 0, false
		}
	}
	base := int64(-1)
	if rs[i0].k.Open {
		// The run open at i0 began before it: at the last reading
		// before i0 with another key.
		for j := i0 - 1; j >= 0; j-- {
			if rs[j].blind {
				return 0, false
			}
			if keyOf(rs[j]) != keyOf(rs[i0]) {
				base = rs[j].k.Tries
				break
			}
		}
		if base < 0 {
			return 0, false
		}
	} else {
		// Closed at i0: the first run after it began after the last
		// reading with i0's key.
		for j := i0 + 1; j <= i1; j++ {
			if keyOf(rs[j]) != keyOf(rs[i0]) {
				base = rs[j-1].k.Tries
				break
			}
		}
		if base < 0 {
			return 0, false // no run began: nothing the kernel did could signal
		}
	}
	return rs[i1].k.Tries - base, true
}

// checkWakes holds every parked task the kernel woke before its release
// to the fake signal's timing. It returns how many wakes it judged. Each
// task the case names in Woken must have been judged: otherwise the
// signal's moment went untested.
func checkWakes(ct *wire.CaseTrace, c cases.Case, add func(rule.Violation)) int {
	rs, haveReadings := readings(ct)
	judged := 0
	seen := map[string]bool{}
	for _, p := range ct.Parked {
		if p.Woke == 0 || !p.Alive || p.Err != "" || !haveReadings {
			continue
		}
		bound, ok := wakeTryBound(rs, p.T0, p.Woke)
		if !ok {
			continue
		}
		judged++
		seen[p.Name] = true
		if bound < minSignalTry {
			add(rule.Violation{Rule: rule.Fallback, Task: fmt.Sprintf("%s[%d]", p.Name, p.TID), T: p.Woke, Msg: fmt.Sprintf(
				"woken in klpt_park_func() before its release by the try %d of its transition's run at the latest; the kernel's fake signal comes at the %dth",
				bound, minSignalTry)})
		}
	}
	for _, name := range c.Woken {
		if !seen[name] && ct.End != nil {
			add(rule.Violation{Rule: rule.Coverage, Task: name, Msg: "no wake of this task by the fake signal could be placed among the probe's counted tries: the signal's moment was not tested"})
		}
	}
	return judged
}

// checkTries holds a case whose transitions nothing holds (Case.MaxTries)
// to its bound on each transition's tries, and so to no fake signal: the
// kernel's "signaling remaining tasks" comes only at a run's 16th try.
// Without a transition whose tries the probe counted, the bound was not
// tested.
func checkTries(tr *wire.Trace, ct *wire.CaseTrace, c cases.Case, add func(rule.Violation)) {
	if c.MaxTries == 0 {
		return
	}
	for _, l := range tr.Kmsg {
		if l.Case == ct.Name && strings.Contains(l.Msg, "signaling remaining tasks") {
			add(rule.Violation{Rule: rule.Fallback, Msg: "the kernel signalled remaining tasks while nothing held its transitions"})
			break
		}
	}
	var ns []int
	if rs, ok := readings(ct); ok {
		ns = transitionTries(rs, ct.Ops)
	}
	if len(ns) == 0 {
		add(rule.Violation{Rule: rule.Coverage, Msg: fmt.Sprintf("the probe counted no transition's tries: the bound of %d was not tested", c.MaxTries)})
	}
	for _, n := range ns {
		if n > c.MaxTries {
			add(rule.Violation{Rule: rule.Fallback, Msg: fmt.Sprintf(
				"a transition took %d tries with nothing holding it; want at most %d (the first, then the retry after every idle CPU's wake_up_if_idle())", n, c.MaxTries)})
		}
	}
}
