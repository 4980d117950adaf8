package cases

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

// The fork-race case produces, and counts, the forks in which
// klp_copy_process() has a race to get right (wire.ForkRaces): forks from
// a parent still pending, and forks that a start or a reverse lands in
// the middle of, between the copy of the parent's task_struct and
// klp_copy_process(). The race storm forks back to back through one
// patching transition that A (asleep in the old klpt_park_func()) and B
// (asleep in the new one) hold open in both directions, so that it can be
// reversed again and again without completing. Each reverse's restart
// flags every lane that had switched; a second reverse right after it
// clears the flag of a lane that copied it into a fork still under way,
// the race the 2022 fix closed. The rounds go on until ForkRaceN forks
// of every kind in ForkRaceKinds were seen, within a bound, and for up to
// ForkRaceWantSeconds more until as many of ForkRaceWanted. The shared
// fork-inherit rule judges every fork; this case says whether the races
// were there to judge.
func init() {
	// reversePair flips the goal twice in a row, then lets the lanes
	// fork and switch; reverseOnce flips it once. (Not a wait-stall: the
	// kernel threads switch only at the next retry, a second later, and
	// the races are the lanes'.)
	reversePair := []Step{{Do: DoReverse}, {Do: DoReverse}, {Do: DoPause}}
	reverseOnce := []Step{{Do: DoReverse}, {Do: DoPause}}
	// A round flips the goal six times, ending where it began (patched):
	// a pair from each direction.
	round := slices.Concat(reversePair, reverseOnce, reversePair, reverseOnce)
	register(Case{
		Name:         "fork-race",
		Doc:          fmt.Sprintf("reverse a patching transition held open both ways (A parked in old, B in new) again and again under back-to-back forks, until %d forks of each of %s; every child gets its parent's state and flag as they are at klp_copy_process()", ForkRaceN, strings.Join(ForkRaceKinds, ", ")),
		BoundSeconds: RepeatSeconds,
		Steps: []Step{
			{Do: DoSettle},
			// Uninterruptible: the fake signal must not end the holds.
			{Do: DoPark, Park: "A", Mode: ParkUninterruptible},
			{Do: DoStormStart, Race: true},
			{Do: DoEnable},
			{Do: DoWaitStall},
			// B enters klpt_park_func() patched: it sleeps in the new one.
			{Do: DoPark, Park: "B", Mode: ParkUninterruptible},
			{Do: DoRepeat, Until: UntilForkRaces, Rounds: 400, Repeat: round},
			{Do: DoReverse}, // to unpatched, B holding it: released, it completes
			{Do: DoWaitStall},
			{Do: DoRelease, Park: "B"},
			{Do: DoWait},
			{Do: DoUnload},
			{Do: DoStormWait},
			{Do: DoRelease, Park: "A"},
			{Do: DoSettle},
		},
		Counts: forkRaceCounts,
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpPark+":A", wire.OpEnable, wire.OpStall, wire.OpPark+":B", wire.OpReverse, wire.OpReverse,
				wire.OpRepeat, wire.OpReverse, wire.OpStall, wire.OpRelease+":B", wire.OpComplete, wire.OpUnload, wire.OpStorm, wire.OpRelease+":A")
			expectParked(findParked(ct, "A", &out), wire.VersionOld, false, &out)
			expectParked(findParked(ct, "B", &out), wire.VersionNew, false, &out)
			rep, ok := nth(ct, wire.OpRepeat, 0)
			if !ok {
				return out
			}
			n := forkRaceCounts(ct)
			if short := forkRaceShortfall(n); len(short) > 0 {
				out = append(out, rule.Violation{Rule: rule.Coverage, T: rep.T0, Msg: fmt.Sprintf(
					"in %d rounds the forks were %s; want %d of each of %s: the case could not test %s",
					rep.Counts["rounds"], CountsString(n), ForkRaceN, strings.Join(ForkRaceKinds, ", "), strings.Join(short, ", "))})
			}
			return out
		},
	})
}

// forkRaceCounts counts the case's forks by race kind.
func forkRaceCounts(ct *wire.CaseTrace) map[string]int {
	return wire.ForkRaces(ct.Ops, ct.Forks)
}

// CountsString writes counts (a verdict's) as "k1 n1, k2 n2", by key.
func CountsString(n map[string]int) string {
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, n[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
