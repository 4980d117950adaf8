package funcstack

import (
	"testing"

	"github.com/klptest/klptest/wire"
)

const (
	call   = "klpt_target:klpt_func"
	park   = "klpt_target:klpt_park_func"
	inner2 = "klpt_target2:klpt_chain_inner"
	outer2 = "klpt_target2:klpt_chain_outer"
	call3  = "klpt_target3:klpt_func"
	cmd    = "vmlinux:cmdline_proc_show"
)

// step is one transition: its patch and direction, whether it completes
// at its goal (else reversed), and the versions some functions must run at
// state 0 and 1 during it.
type step struct {
	patch    string
	enable   bool
	reversed bool
	want     map[string][2]int
}

func TestStacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		after map[string]int // Top after the last step
	}{
		{"patch and unpatch", []step{
			{"klpt_patch", true, false, map[string][2]int{call: {1, 2}, park: {1, 2}, call3: {1, 2}, cmd: {1, 2}}},
			{"klpt_patch", false, false, map[string][2]int{call: {1, 2}, inner2: {1, 2}}},
		}, map[string]int{call: 1, park: 1, call3: 1}},
		{"stacked", []step{
			{"klpt_patch", true, false, nil},
			{"klpt_patch3", true, false, map[string][2]int{call: {2, 4}, call3: {2, 4}}},
			{"klpt_patch3", false, false, map[string][2]int{call: {2, 4}}},
		}, map[string]int{call: 2, call3: 2}},
		// klpt_patch4 leaves out klpt_target3, klpt_target's park and
		// klpt_target2's inner: nops run the original at 1.
		{"nops over a patch", []step{
			{"klpt_patch", true, false, nil},
			{"klpt_patch4", true, false, map[string][2]int{call: {2, 5}, park: {2, 1}, inner2: {2, 1}, outer2: {2, 5}, call3: {2, 1}, cmd: {2, 5}}},
		}, map[string]int{call: 5, park: 1, inner2: 1, outer2: 5, call3: 1, cmd: 5}},
		{"nops reversed", []step{
			{"klpt_patch", true, false, nil},
			{"klpt_patch4", true, true, map[string][2]int{park: {2, 1}}},
		}, map[string]int{call: 2, park: 2, call3: 2}},
		// Replacing nothing, a replace adds no nops: what it leaves out
		// keeps the original at both states.
		{"replace over nothing", []step{
			{"klpt_patch4", true, false, map[string][2]int{call: {1, 5}, park: {1, 1}, call3: {1, 1}}},
			{"klpt_patch4", false, false, map[string][2]int{call: {1, 5}, park: {1, 1}, call3: {1, 1}}},
		}, map[string]int{call: 1, park: 1}},
		// Over klpt_patch4, a stacked patch starts from the original where
		// the replace left the original, and its disable goes back there.
		{"stacked on nops", []step{
			{"klpt_patch", true, false, nil},
			{"klpt_patch4", true, false, nil},
			{"klpt_patch3", true, false, map[string][2]int{call: {5, 4}, park: {1, 4}, call3: {1, 4}, inner2: {1, 4}}},
			{"klpt_patch3", false, false, map[string][2]int{call: {5, 4}, park: {1, 4}, call3: {1, 4}}},
			{"klpt_patch4", false, false, map[string][2]int{call: {1, 5}, park: {1, 1}, call3: {1, 1}, inner2: {1, 1}}},
		}, map[string]int{call: 1, park: 1, call3: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Stacks
			for i, st := range tc.steps {
				var vs map[string][2]int
				var err error
				if st.enable {
					vs, err = s.Enable(st.patch)
				} else {
					vs, err = s.Disable(st.patch)
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				// The op's form says the same for every function.
				v0, v1, funcs := OpVersions(vs)
				op := wire.Op{V0: v0, V1: v1, Funcs: funcs}
				for k, v := range vs {
					if a, b := op.VersionsOf(k); [2]int{a, b} != v {
						t.Errorf("step %d: the op says %s runs %d/%d; the model %v", i, k, a, b, v)
					}
				}
				for k, want := range st.want {
					if vs[k] != want {
						t.Errorf("step %d (%s of %s): %s runs %v at states 0/1; want %v", i, map[bool]string{true: "enable", false: "disable"}[st.enable], st.patch, k, vs[k], want)
					}
				}
				goal := wire.StateUnpatched
				if st.enable != st.reversed {
					goal = wire.StatePatched
				}
				s.Complete(st.patch, st.enable, goal)
			}
			for k, want := range tc.after {
				if got := s.Top(k); got != want {
					t.Errorf("after the steps %s runs v%d; want v%d (applied %v)", k, got, want, s.Applied())
				}
			}
		})
	}
}

func TestDisableNotTopmost(t *testing.T) {
	var s Stacks
	s.Complete("klpt_patch", true, wire.StatePatched)
	s.Complete("klpt_patch3", true, wire.StatePatched)
	if _, err := s.Disable("klpt_patch"); err == nil {
		t.Error("disabling klpt_patch under klpt_patch3 was accepted")
	}
	if _, err := s.Enable("klpt_nosuch"); err == nil {
		t.Error("enabling an unknown livepatch was accepted")
	}
}

// The workers' call sets V0/V1; an op of the plain patches lists no funcs,
// as traces before nops had none.
func TestOpVersionsPlain(t *testing.T) {
	var s Stacks
	vs, _ := s.Enable("klpt_patch")
	if v0, v1, funcs := OpVersions(vs); v0 != 1 || v1 != 2 || funcs != nil {
		t.Errorf("OpVersions = %d, %d, %v; want 1, 2 and no funcs", v0, v1, funcs)
	}
}
