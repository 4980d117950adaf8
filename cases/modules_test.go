package cases

import (
	"testing"

	"github.com/klptest/klptest/kmod/table"
)

// The modules the cases' steps name are the table's: a livepatch where a
// step acts on a patch, a target where it loads, removes or calls one.
func TestStepModules(t *testing.T) {
	for _, c := range append(append(All(), Demos()...), Faults()...) {
		for i, st := range c.Steps {
			if st.Patch != "" {
				if _, ok := table.Patch(st.Patch); !ok {
					t.Errorf("%s step %d (%s): %q is no livepatch in kmod/table", c.Name, i+1, st.Do, st.Patch)
				}
			}
			switch st.Do {
			case DoLoad, DoRemove, DoWorkers:
				if !isTarget(st.Module) {
					t.Errorf("%s step %d (%s): %q is no target module in kmod/table", c.Name, i+1, st.Do, st.Module)
				}
			}
		}
	}
}

func isTarget(name string) bool {
	for _, m := range table.Modules {
		if m.Name == name && m.Kind == table.Target {
			return true
		}
	}
	return false
}
