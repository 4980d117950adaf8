package wire

// The kinds of fork the fork cases count (ForkRaces): the forks in which
// the kernel's klp_copy_process() has something to get right. A child
// whose parent is pending must get the flag; a child whose parent a
// transition moved while it forked must get the parent's new state and
// flag, not the copy's (the 2022 fix "livepatch: fix race between fork
// and KLP transition" made klp_copy_process() clear the flag as well as
// set it, for a reverse that cleared the parent's flag mid-fork).
const (
	// ForkPendingParent: the parent had TIF_PATCH_PENDING at
	// klp_copy_process().
	ForkPendingParent = "pending-parent"
	// ForkStraddle: the parent moved while it forked, by a start or a
	// reverse (ForkStraddleStart plus ForkStraddleReverse).
	ForkStraddle = "straddle"
	// ForkStraddleStart: the parent moved while it forked, and the
	// latest transition step before klp_copy_process() was a start (an
	// enable or a disable: klp_init_transition() set its state or
	// klp_start_transition() its flag).
	ForkStraddleStart = "straddle-start"
	// ForkStraddleReverse: the parent moved while it forked, and the
	// latest transition step before was a reverse, or its flag was
	// dropped without a switch, which only klp_reverse_transition()'s
	// clearing of every task's flag does (a switch moves the state too).
	ForkStraddleReverse = "straddle-reverse"
	// ForkFlagDropped, a subset of ForkStraddle: the copy holds the
	// flag, the parent no longer does (a reverse cleared it, or it
	// switched mid-fork). The child of a kernel that only sets the flag,
	// as before the 2022 fix, keeps it.
	ForkFlagDropped = "flag-dropped"
	// ForkStraddleOther: the parent moved while it forked, last after
	// a completion or a force (a completion or a switch moved it).
	ForkStraddleOther = "straddle-other"
)

// ForkRaces counts, by kind, the forks that raced the transitions ops
// started. A fork is attributed to the latest op that started before
// klp_copy_process() and moves tasks (enable, disable, reverse, force,
// complete); ops are in time order, as a trace holds them. The
// attribution is by the agent's clock around each write, so a fork that
// spanned both a start and a reverse counts for the later one.
func ForkRaces(ops []Op, forks []ForkEvent) map[string]int {
	n := map[string]int{}
	for _, f := range forks {
		if f.PPending {
			n[ForkPendingParent]++
		}
		if !f.Straddled() {
			continue
		}
		last := ""
		for _, o := range ops {
			if o.T0 >= f.T {
				break
			}
			switch o.Kind {
			case OpEnable, OpDisable, OpReverse, OpForce, OpComplete:
				last = o.Kind
			}
		}
		if f.CopiedPending && !f.PPending {
			n[ForkFlagDropped]++
		}
		switch {
		case f.CopiedPending && !f.PPending && f.CopiedState == f.PState:
			n[ForkStraddleReverse]++
		case last == OpReverse:
			n[ForkStraddleReverse]++
		case last == OpEnable || last == OpDisable:
			n[ForkStraddleStart]++
		default:
			n[ForkStraddleOther]++
			continue
		}
		n[ForkStraddle]++
	}
	return n
}
