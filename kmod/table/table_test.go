package table

import (
	"fmt"
	"testing"
)

// check returns what is wrong with a table: the rules the rest of klptest
// relies on when it derives from it.
func check(mods []Module) []string {
	var errs []string
	kind := map[string]Kind{}
	version := map[int]string{}
	for _, m := range mods {
		if _, dup := kind[m.Name]; dup {
			errs = append(errs, m.Name+": listed twice")
		}
		kind[m.Name] = m.Kind
	}
	for _, m := range mods {
		switch m.Kind {
		case Target, Probe:
			if m.Replace || len(m.Patches) > 0 {
				errs = append(errs, fmt.Sprintf("%s: a %s that replaces or patches %v", m.Name, m.Kind, m.Patches))
			}
		case Livepatch:
			if m.Resident {
				errs = append(errs, m.Name+": a resident livepatch; the cases need none applied between them")
			}
			if other, dup := version[m.Version]; dup {
				errs = append(errs, fmt.Sprintf("%s: version %d is %s's too; a call's result could not tell them apart", m.Name, m.Version, other))
			}
			version[m.Version] = m.Name
			if len(m.Patches) == 0 {
				errs = append(errs, m.Name+": patches nothing")
			}
			for _, o := range m.Patches {
				if o != Vmlinux && kind[o] != Target {
					errs = append(errs, fmt.Sprintf("%s: patches %s, which is neither vmlinux nor a target module", m.Name, o))
				}
			}
			for _, x := range m.Omits {
				if !m.omittable(x) {
					errs = append(errs, fmt.Sprintf("%s: omits %s, no function of an object it patches", m.Name, x))
				}
			}
		default:
			errs = append(errs, fmt.Sprintf("%s: unknown kind %q", m.Name, m.Kind))
		}
	}
	for _, m := range mods {
		if m.Kind == Livepatch {
			for _, t := range mods {
				if t.Kind == Target && m.Version <= t.Version {
					errs = append(errs, fmt.Sprintf("%s: version %d is not above %s's %d", m.Name, m.Version, t.Name, t.Version))
				}
			}
		}
	}
	if kind[DefaultLivepatch] != Livepatch {
		errs = append(errs, "DefaultLivepatch "+DefaultLivepatch+" is not a livepatch of the table")
	}
	return errs
}

func TestModules(t *testing.T) {
	for _, e := range check(Modules) {
		t.Error(e)
	}
}

// Each rule of check fires on a table that breaks it.
func TestCheck(t *testing.T) {
	target := Module{Name: "klpt_target", Kind: Target, Version: 1}
	patch := Module{Name: DefaultLivepatch, Kind: Livepatch, Version: 2, Patches: []string{Vmlinux, "klpt_target"}}
	with := func(f func(m *Module)) Module { m := patch; f(&m); return m }
	for _, tc := range []struct {
		name string
		mods []Module
		want string
	}{
		{"twice", []Module{target, patch, target}, "klpt_target: listed twice"},
		{"same version", []Module{target, patch, with(func(m *Module) { m.Name = "klpt_patch9" })}, "klpt_patch9: version 2 is klpt_patch's too; a call's result could not tell them apart"},
		{"below target", []Module{target, with(func(m *Module) { m.Version = 1 })}, "klpt_patch: version 1 is not above klpt_target's 1"},
		{"omits a stranger", []Module{target, with(func(m *Module) { m.Omits = []string{"klpt_target2:klpt_func"} })}, "klpt_patch: omits klpt_target2:klpt_func, no function of an object it patches"},
		{"patches a livepatch", []Module{target, with(func(m *Module) { m.Patches = []string{"klpt_patch"} })}, "klpt_patch: patches klpt_patch, which is neither vmlinux nor a target module"},
		{"patches nothing", []Module{target, with(func(m *Module) { m.Patches = nil })}, "klpt_patch: patches nothing"},
		{"resident", []Module{target, with(func(m *Module) { m.Resident = true })}, "klpt_patch: a resident livepatch; the cases need none applied between them"},
		{"target replaces", []Module{{Name: "klpt_target", Kind: Target, Replace: true}, patch}, "klpt_target: a target that replaces or patches []"},
		{"no default", []Module{target}, "DefaultLivepatch klpt_patch is not a livepatch of the table"},
		{"kind", []Module{target, patch, {Name: "klpt_x", Kind: "fault"}}, `klpt_x: unknown kind "fault"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := check(tc.mods)
			if len(errs) != 1 || errs[0] != tc.want {
				t.Errorf("check = %q; want only %q", errs, tc.want)
			}
		})
	}
}

func TestPatch(t *testing.T) {
	if m, ok := Patch("klpt_patch2"); !ok || m.Version != 3 || !m.Replace {
		t.Errorf("Patch(klpt_patch2) = %+v, %v", m, ok)
	}
	for _, name := range []string{"klpt_target", "klpt_nope"} {
		if m, ok := Patch(name); ok {
			t.Errorf("Patch(%s) = %+v, true; want no livepatch", name, m)
		}
	}
}

// omittable says whether key is a function of an object m patches.
func (m Module) omittable(key string) bool {
	for _, o := range m.Patches {
		for _, f := range ObjectFuncs(o) {
			if Key(o, f) == key {
				return true
			}
		}
	}
	return false
}

func TestPatchesFunc(t *testing.T) {
	p4, _ := Patch("klpt_patch4")
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"klpt_target:klpt_func", true},
		{"klpt_target:klpt_park_func", false},   // omitted
		{"klpt_target2:klpt_chain_outer", true}, // its object kept
		{"klpt_target2:klpt_chain_inner", false},
		{"klpt_target3:klpt_func", false}, // its object left out
		{"vmlinux:cmdline_proc_show", true},
		{"vmlinux:proc_flush_pid", true},
	} {
		if got := p4.PatchesFunc(tc.key); got != tc.want {
			t.Errorf("klpt_patch4.PatchesFunc(%s) = %v; want %v", tc.key, got, tc.want)
		}
	}
	if got := len(Funcs()); got != 14 {
		t.Errorf("Funcs() has %d functions; want vmlinux's two and four in each of three targets", got)
	}
}
