// Package table is the one list of klptest's test modules (the C sources in
// kmod/src): each module's name and kind, the objects a livepatch patches
// and the functions it leaves out of them, the version its functions return
// and whether it replaces atomically, and whether it stays loaded from case
// to case; and the names of the functions a livepatch can patch.
//
// Everything else about the modules is derived from it or checked against
// it: kmod generates Kbuild from it and its tests hold the C sources'
// per-module #defines to it; cases and the guest agent read the livepatches'
// versions from it, and the agent its load and cleanup lists. It is
// stdlib-only and builds for every GOARCH, as the guest imports it.
package table

// Kind is what a test module is for.
type Kind string

const (
	// Target modules hold the functions to patch, reached through
	// /dev/<name>; klpt_target.c's twins build it under other names.
	Target Kind = "target"
	// Livepatch modules patch the targets and vmlinux (klpt_patch_body.h).
	Livepatch Kind = "livepatch"
	// Probe is klpt_probe: /proc/klpt_tasks, /proc/klpt_forks,
	// /proc/klpt_switches and /proc/klpt_inject, and the registry of chain
	// calls the targets use.
	Probe Kind = "probe"
)

// Vmlinux names the core kernel among the objects a livepatch patches (a
// klp_object without a name).
const Vmlinux = "vmlinux"

// Module is one test module, built from kmod/src/<Name>.c.
type Module struct {
	Name string
	Kind Kind
	// Version is what the module's functions return: a target's own
	// (KLPT_VERSION_OLD), a livepatch's KLPT_PATCH_VERSION, which its
	// cmdline_proc_show() prints too. Each livepatch has its own, so that
	// a call's result names the patch it ran.
	Version int
	// Replace: a livepatch that atomically replaces every patch applied
	// (KLPT_PATCH_REPLACE).
	Replace bool
	// Patches are the objects a livepatch patches: Vmlinux and target
	// modules (its klp_objects).
	Patches []string
	// Omits are functions of the objects in Patches that the livepatch
	// leaves out (as Key names them): with Replace, the kernel adds a nop
	// for each one an applied patch has (klp_add_nops()), as it does for
	// each function of an object left out of Patches.
	Omits []string
	// Resident modules are loaded at boot and stay from case to case; the
	// agent removes the others after each case.
	Resident bool
}

// The functions a livepatch can patch: in each target module, and in
// vmlinux.
const (
	FuncCall    = "klpt_func"         // the workers' call
	FuncPark    = "klpt_park_func"    // where parked tasks sleep
	FuncOuter   = "klpt_chain_outer"  // a chain's first function
	FuncInner   = "klpt_chain_inner"  // the function it calls
	FuncCmdline = "cmdline_proc_show" // vmlinux's: what /proc/cmdline shows
	FuncExit    = "proc_flush_pid"    // vmlinux's: what an exiting thread calls off the task list
)

// ObjectFuncs are the functions of object that a livepatch can patch.
func ObjectFuncs(object string) []string {
	if object == Vmlinux {
		return []string{FuncCmdline, FuncExit}
	}
	return []string{FuncCall, FuncPark, FuncOuter, FuncInner}
}

// Key names one function of one object: "klpt_target2:klpt_chain_inner".
// The empty object is klpt_target, as the wire's call records name it.
func Key(object, fn string) string {
	if object == "" {
		object = "klpt_target"
	}
	return object + ":" + fn
}

// Funcs are the keys of every function a livepatch of the table can
// patch, in table order.
func Funcs() []string {
	var out []string
	for _, o := range append([]string{Vmlinux}, targetNames()...) {
		for _, f := range ObjectFuncs(o) {
			out = append(out, Key(o, f))
		}
	}
	return out
}

func targetNames() []string {
	var out []string
	for _, m := range Modules {
		if m.Kind == Target {
			out = append(out, m.Name)
		}
	}
	return out
}

// PatchesFunc says whether livepatch m patches the function key.
func (m Module) PatchesFunc(key string) bool {
	for _, o := range m.Patches {
		for _, f := range ObjectFuncs(o) {
			if Key(o, f) == key {
				for _, x := range m.Omits {
					if x == key {
						return false
					}
				}
				return true
			}
		}
	}
	return false
}

// DefaultLivepatch is the livepatch a case step acts on when it names none.
const DefaultLivepatch = "klpt_patch"

// every livepatch patches the three targets and vmlinux.
var targets = []string{Vmlinux, "klpt_target", "klpt_target2", "klpt_target3"}

// Modules are klptest's test modules, in the order they are built and put
// into the image.
var Modules = []Module{
	// The probe first: the targets register their chain calls with it.
	{Name: "klpt_probe", Kind: Probe, Resident: true},
	{Name: "klpt_target", Kind: Target, Version: 1, Resident: true},
	{Name: "klpt_target2", Kind: Target, Version: 1},
	{Name: "klpt_target3", Kind: Target, Version: 1},
	{Name: "klpt_patch", Kind: Livepatch, Version: 2, Patches: targets},
	{Name: "klpt_patch2", Kind: Livepatch, Version: 3, Replace: true, Patches: targets},
	{Name: "klpt_patch3", Kind: Livepatch, Version: 4, Patches: targets},
	// An atomic replace that leaves out klpt_target3, klpt_target's
	// parking function and klpt_target2's inner chain function: replacing
	// a patch that has them, the kernel adds nops, an object of them and
	// single ones.
	{Name: "klpt_patch4", Kind: Livepatch, Version: 5, Replace: true,
		Patches: []string{Vmlinux, "klpt_target", "klpt_target2"},
		Omits:   []string{"klpt_target:" + FuncPark, "klpt_target2:" + FuncInner}},
}

// Names returns the modules' names, in table order.
func Names() []string {
	out := make([]string, len(Modules))
	for i, m := range Modules {
		out[i] = m.Name
	}
	return out
}

// Patch returns the livepatch module named name; ok is false when no
// livepatch has that name.
func Patch(name string) (m Module, ok bool) {
	for _, m := range Modules {
		if m.Name == name && m.Kind == Livepatch {
			return m, true
		}
	}
	return Module{}, false
}
