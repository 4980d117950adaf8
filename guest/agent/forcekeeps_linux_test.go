package agent

import (
	"maps"
	"slices"
	"testing"

	"github.com/klptest/klptest/wire"
)

// A force leaves in what klp_force_transition() marks forced: a forced
// unpatch's own patch, every patch a forced replace removes, and nothing
// for a forced stacked patch.
func TestForceKeeps(t *testing.T) {
	tests := []struct {
		name    string
		goal    int
		patch   string
		applied []string
		want    []string
	}{
		{"forced unpatch", wire.StateUnpatched, "klpt_patch", []string{"klpt_patch"}, []string{"klpt_patch"}},
		{"forced replace", wire.StatePatched, "klpt_patch2", []string{"klpt_patch", "klpt_patch3"}, []string{"klpt_patch", "klpt_patch3"}},
		{"forced stacked patch", wire.StatePatched, "klpt_patch3", []string{"klpt_patch"}, nil},
		{"forced reversed replace", wire.StateUnpatched, "klpt_patch2", []string{"klpt_patch"}, []string{"klpt_patch2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &caseRun{goal: tt.goal, patch: tt.patch}
			for _, a := range tt.applied {
				r.stacks.Complete(a, true, wire.StatePatched)
			}
			r.forceKeeps()
			if got := slices.Sorted(maps.Keys(r.kept)); !slices.Equal(got, tt.want) {
				t.Errorf("kept %v; want %v", got, tt.want)
			}
		})
	}
}
