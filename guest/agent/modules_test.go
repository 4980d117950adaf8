package agent

import (
	"slices"
	"testing"

	"github.com/klptest/klptest/kmod/table"
)

func TestModuleLists(t *testing.T) {
	mods := []table.Module{
		{Name: "t", Kind: table.Target, Resident: true},
		{Name: "t2", Kind: table.Target},
		{Name: "probe", Kind: table.Probe, Resident: true},
		{Name: "p", Kind: table.Livepatch},
		{Name: "f", Kind: "fault"},
		{Name: "p2", Kind: table.Livepatch},
	}
	if got, want := residentModules(mods), []string{"t", "probe"}; !slices.Equal(got, want) {
		t.Errorf("residentModules = %q; want %q", got, want)
	}
	if got, want := caseModules(mods), []string{"p2", "p", "t2", "f"}; !slices.Equal(got, want) {
		t.Errorf("caseModules = %q; want %q", got, want)
	}
	if got, want := probeModules(mods), []string{"probe"}; !slices.Equal(got, want) {
		t.Errorf("probeModules = %q; want %q", got, want)
	}
}

// klptest's own table: the boot loads the target and the probe, and the
// cleanup removes every other module, livepatches first.
func TestModuleListsOfTable(t *testing.T) {
	if got, want := residentModules(table.Modules), []string{"klpt_probe", "klpt_target"}; !slices.Equal(got, want) {
		t.Errorf("residentModules = %q; want %q", got, want)
	}
	gone := caseModules(table.Modules)
	for _, m := range table.Modules {
		switch in := slices.Contains(gone, m.Name); {
		case m.Resident && in:
			t.Errorf("%s is resident, yet the cleanup removes it: %q", m.Name, gone)
		case !m.Resident && !in:
			t.Errorf("%s is not resident, yet the cleanup leaves it loaded: %q", m.Name, gone)
		}
	}
}
