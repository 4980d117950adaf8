// Package funcstack models the kernel's func_stacks for klptest's
// livepatches (kmod/table): which version of each patchable function a task
// runs between transitions, and at state 0 and 1 during one, as stacking,
// atomic replace and its nops make them. The guest agent keeps one per case
// and writes each transition's versions into its ops, which the rules read.
// It is pure and stdlib-only: the guest imports it.
//
// What it follows, from kernel/livepatch/:
//   - each function has a func_stack, newest first; the ftrace handler runs
//     its top, or, for a task at state 0 during a transition that has the
//     function, the entry below it (the original when there is none);
//   - a nop (func->nop) runs the original: klp_add_nops() gives an atomic
//     replace one for each function an applied patch has and it leaves out;
//     klp_complete_transition() discards them with the replaced patches;
//   - a transition has the functions of its patch and its nops; every other
//     function keeps its top whatever the task's state.
package funcstack

import (
	"fmt"
	"slices"

	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/wire"
)

// Stacks are the livepatches applied, oldest first.
type Stacks struct {
	applied []table.Module
}

// Applied names the applied livepatches, oldest first.
func (s *Stacks) Applied() []string {
	out := make([]string, len(s.applied))
	for i, m := range s.applied {
		out[i] = m.Name
	}
	return out
}

// Top returns the version function key runs outside a transition: the
// newest applied patch's that has it, else the original.
func (s *Stacks) Top(key string) int {
	return top(s.applied, key)
}

func top(applied []table.Module, key string) int {
	for i := len(applied) - 1; i >= 0; i-- {
		if applied[i].PatchesFunc(key) {
			return applied[i].Version
		}
	}
	return wire.VersionOld
}

// Enable returns the versions of every function at state 0 and 1 while
// patch is being enabled on top of the applied ones.
func (s *Stacks) Enable(patch string) (map[string][2]int, error) {
	p, ok := table.Patch(patch)
	if !ok {
		return nil, fmt.Errorf("unknown livepatch %q", patch)
	}
	out := map[string][2]int{}
	for _, k := range table.Funcs() {
		was := s.Top(k)
		switch {
		case p.PatchesFunc(k):
			out[k] = [2]int{was, p.Version}
		case p.Replace && was != wire.VersionOld:
			out[k] = [2]int{was, wire.VersionOld} // its nop
		default:
			out[k] = [2]int{was, was}
		}
	}
	return out, nil
}

// Disable returns the versions of every function at state 0 and 1 while
// patch, the newest applied, is being disabled.
func (s *Stacks) Disable(patch string) (map[string][2]int, error) {
	n := len(s.applied)
	if n == 0 || s.applied[n-1].Name != patch {
		return nil, fmt.Errorf("%s is not the topmost applied livepatch", patch)
	}
	p, below := s.applied[n-1], s.applied[:n-1]
	out := map[string][2]int{}
	for _, k := range table.Funcs() {
		if p.PatchesFunc(k) {
			out[k] = [2]int{top(below, k), p.Version}
		} else {
			v := s.Top(k) // its nops went with its enable's completion
			out[k] = [2]int{v, v}
		}
	}
	return out, nil
}

// Complete records a transition of patch that completed at goal: an
// enable that reached 1 applies it (a replace alone), a disable that
// reached 0 takes it off; a reversed one leaves the stacks as they were.
func (s *Stacks) Complete(patch string, enabling bool, goal int) {
	p, _ := table.Patch(patch)
	switch {
	case enabling && goal == wire.StatePatched:
		if p.Replace {
			s.applied = nil
		}
		s.applied = append(s.applied, p)
	case !enabling && goal == wire.StateUnpatched:
		if i := slices.IndexFunc(s.applied, func(m table.Module) bool { return m.Name == patch }); i >= 0 {
			s.applied = slices.Delete(s.applied, i, i+1)
		}
	}
}

// OpVersions puts a transition's versions into an op's form: V0 and V1
// those of table.Key("klpt_target", table.FuncCall), the workers' call, and
// Funcs every function whose versions differ from them, in table order.
func OpVersions(vs map[string][2]int) (v0, v1 int, funcs []wire.FuncVersions) {
	d := vs[table.Key("klpt_target", table.FuncCall)]
	for _, k := range table.Funcs() {
		if v := vs[k]; v != d {
			funcs = append(funcs, wire.FuncVersions{Func: k, V0: v[0], V1: v[1]})
		}
	}
	return d[0], d[1], funcs
}
