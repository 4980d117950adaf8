package agent

import (
	"slices"

	"github.com/klptest/klptest/kmod/table"
)

// residentModules are the modules of mods the agent loads at boot, in
// order, and keeps from case to case.
func residentModules(mods []table.Module) []string {
	var out []string
	for _, m := range mods {
		if m.Resident {
			out = append(out, m.Name)
		}
	}
	return out
}

// probeModules are the probe modules of mods, which a kselftest boot loads
// alone.
func probeModules(mods []table.Module) []string {
	var out []string
	for _, m := range mods {
		if m.Kind == table.Probe {
			out = append(out, m.Name)
		}
	}
	return out
}

// caseModules are the modules of mods a case may leave loaded, in the order the
// cleanup removes them: the livepatches first, the last listed first (a
// later patch may stack on an earlier one), then the other modules that are
// not resident (the targets' twins).
func caseModules(mods []table.Module) []string {
	var patches, others []string
	for _, m := range mods {
		switch {
		case m.Kind == table.Livepatch:
			patches = append(patches, m.Name)
		case !m.Resident:
			others = append(others, m.Name)
		}
	}
	slices.Reverse(patches)
	return append(patches, others...)
}
