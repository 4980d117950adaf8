package kmod

import (
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/klptest/klptest/kmod/csource"
	"github.com/klptest/klptest/kmod/table"
	"github.com/klptest/klptest/wire"
)

// Kbuild has a line for each kind, targets first, then livepatches, then
// the probe, then any other kind: the Kbuild kmod/src held before it was
// generated, byte for byte, so that the build cache's entries, keyed by the
// tree's content, stayed good.
func TestKbuild(t *testing.T) {
	mods := []table.Module{
		{Name: "t", Kind: table.Target}, {Name: "probe", Kind: table.Probe},
		{Name: "p", Kind: table.Livepatch}, {Name: "f", Kind: "fault"},
		{Name: "t2", Kind: table.Target}, {Name: "p2", Kind: table.Livepatch},
	}
	want := `# SPDX-License-Identifier: GPL-2.0
# klptest's test modules, built out of tree against a kernel's build dir.
obj-m += t.o t2.o
obj-m += p.o p2.o
obj-m += probe.o
obj-m += f.o
`
	if got := string(kbuild(mods)); got != want {
		t.Errorf("Kbuild:\n%s\nwant:\n%s", got, want)
	}
}

var objm = regexp.MustCompile(`(?m)^obj-m\s*\+=(.*)$`)

// kbuildModules are the modules a Kbuild's obj-m lines name.
func kbuildModules(kb []byte) []string {
	var out []string
	for _, m := range objm.FindAllSubmatch(kb, -1) {
		for _, o := range strings.Fields(string(m[1])) {
			out = append(out, strings.TrimSuffix(o, ".o"))
		}
	}
	return out
}

// The tree make builds holds every source and a Kbuild that builds every
// module of the table once.
func TestTree(t *testing.T) {
	tr := tree(table.Modules)
	kb, err := fs.ReadFile(tr, "Kbuild")
	if err != nil {
		t.Fatal(err)
	}
	got := kbuildModules(kb)
	slices.Sort(got)
	want := sorted(table.Names())
	if !slices.Equal(got, want) {
		t.Errorf("Kbuild builds %q; want %q", got, want)
	}
	for _, f := range []string{"klpt_uapi.h", "klpt_patch_body.h", "klpt_target.c"} {
		if _, err := fs.Stat(tr, f); err != nil {
			t.Errorf("the tree lacks %s: %v", f, err)
		}
	}
}

// checkSources returns every way the C sources in src and the table mods
// disagree: a module in one and not the other, a per-module #define that
// says other than its row, a livepatch that patches other objects.
func checkSources(src fs.FS, mods []table.Module) []string {
	var errs []string
	cfiles, err := fs.Glob(src, "*.c")
	if err != nil {
		return []string{err.Error()}
	}
	rows := map[string]bool{}
	for _, m := range mods {
		rows[m.Name] = true
	}
	for _, f := range cfiles {
		if name := strings.TrimSuffix(f, ".c"); !rows[name] {
			errs = append(errs, fmt.Sprintf("%s: no row in table.Modules, so no Kbuild builds it", f))
		}
	}
	for _, m := range mods {
		if !slices.Contains(cfiles, m.Name+".c") {
			errs = append(errs, fmt.Sprintf("%s: a row in table.Modules, but there is no %s.c", m.Name, m.Name))
			continue
		}
		errs = append(errs, checkModule(src, m)...)
	}
	return errs
}

// checkModule holds one module's C to its row.
func checkModule(src fs.FS, m table.Module) []string {
	file := m.Name + ".c"
	text, err := csource.Expand(src, file)
	if err != nil {
		return []string{err.Error()}
	}
	d := csource.Defines(text)
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s: ", m.Name)+fmt.Sprintf(format, args...))
	}
	// intDefine is a #define's value, or -1 with an error when the module
	// lacks it or it is no constant.
	intDefine := func(name string) int64 {
		v, ok := d[name]
		if !ok {
			bad("%s does not define %s", file, name)
			return -1
		}
		n, err := csource.Int(v)
		if err != nil {
			bad("%s: %s: %v", file, name, err)
			return -1
		}
		return n
	}
	_, isPatch := d["KLPT_PATCH_VERSION"]
	_, isTarget := d["KLPT_TARGET_NAME"]
	switch {
	case m.Kind == table.Livepatch:
		if !strings.Contains(text, `MODULE_INFO(livepatch, "Y")`) {
			bad(`%s is no livepatch: no MODULE_INFO(livepatch, "Y")`, file)
		}
		if v := intDefine("KLPT_PATCH_VERSION"); v >= 0 && v != int64(m.Version) {
			bad("KLPT_PATCH_VERSION is %d in %s; the table says %d", v, file, m.Version)
		}
		if r := intDefine("KLPT_PATCH_REPLACE"); r >= 0 && (r == 1) != m.Replace {
			bad("KLPT_PATCH_REPLACE is %s in %s; the table says %v", d["KLPT_PATCH_REPLACE"], file, m.Replace)
		}
		nops := intDefine("KLPT_PATCH_NOPS")
		if nops >= 0 && (nops == 1) != (len(m.Omits) > 0) {
			bad("KLPT_PATCH_NOPS is %s in %s; the table says it omits %q", d["KLPT_PATCH_NOPS"], file, m.Omits)
		}
		text, err := csource.Select(text, "KLPT_PATCH_NOPS", nops == 1)
		if err != nil {
			bad("%s: %v", file, err)
			break
		}
		objs, err := klpObjects(text)
		if err != nil {
			bad("%s: %v", file, err)
		} else if got, want := sorted(objs), sorted(m.Patches); !slices.Equal(got, want) {
			bad("%s patches %q; the table says %q", file, got, want)
		}
		funcs, err := klpFuncs(text)
		if err != nil {
			bad("%s: %v", file, err)
			break
		}
		for _, o := range m.Patches {
			var want []string
			for _, f := range table.ObjectFuncs(o) {
				if m.PatchesFunc(table.Key(o, f)) {
					want = append(want, f)
				}
			}
			if got := sorted(funcs[o]); !slices.Equal(got, sorted(want)) {
				bad("%s patches %q in %s; the table says %q", file, got, o, want)
			}
		}
	case isPatch:
		bad("%s defines KLPT_PATCH_VERSION, yet the table says it is a %s", file, m.Kind)
	}
	switch {
	case m.Kind == table.Target:
		if got, want := d["KLPT_TARGET_NAME"], `"`+m.Name+`"`; got != want {
			bad("KLPT_TARGET_NAME is %s in %s; want %s, the device /dev/%s the agent opens", got, file, want, m.Name)
		}
		if v := intDefine("KLPT_VERSION_OLD"); v >= 0 && v != int64(m.Version) {
			bad("its functions return KLPT_VERSION_OLD, %d; the table says %d", v, m.Version)
		}
	case isTarget:
		bad("%s defines KLPT_TARGET_NAME, yet the table says it is a %s", file, m.Kind)
	}
	return errs
}

var (
	klpObjectsRE = regexp.MustCompile(`(?s)struct\s+klp_object\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)\n\s*\}\s*;`)
	entryRE      = regexp.MustCompile(`\{([^{}]*)\}`)
	objNameRE    = regexp.MustCompile(`\.name\s*=\s*"([^"]+)"`)
)

// klpObjects are the objects a livepatch's klp_object array names; one
// without a name is vmlinux.
func klpObjects(text string) ([]string, error) {
	arrays := klpObjectsRE.FindAllStringSubmatch(text, -1)
	if len(arrays) != 1 {
		return nil, fmt.Errorf("%d klp_object arrays; want one", len(arrays))
	}
	var out []string
	for _, e := range entryRE.FindAllStringSubmatch(arrays[0][1], -1) {
		switch body := strings.TrimSpace(e[1]); {
		case body == "":
			// the terminating entry
		case objNameRE.MatchString(body):
			out = append(out, objNameRE.FindStringSubmatch(body)[1])
		case strings.Contains(body, ".funcs"):
			out = append(out, table.Vmlinux)
		default:
			return nil, fmt.Errorf("klp_object entry %q: neither named nor vmlinux's", body)
		}
	}
	return out, nil
}

var (
	objFuncsRE   = regexp.MustCompile(`\.funcs\s*=\s*(\w+)`)
	oldNameRE    = regexp.MustCompile(`\.old_name\s*=\s*"([^"]+)"`)
	macroUseRE   = regexp.MustCompile(`(?m)^\s*(\w+)\(\s*(\w+)\s*\)\s*;`)
	funcArrayFmt = `(?s)struct\s+klp_func\s+%s\s*\[\s*\]\s*=\s*\{(.*?)\n\s*\}\s*;`
)

// klpFuncs are the functions a livepatch patches in each object, by the
// old_name of each entry of the klp_func array its klp_object names:
// written out, or made by a function-like macro of the file (name).
func klpFuncs(text string) (map[string][]string, error) {
	arrays := klpObjectsRE.FindAllStringSubmatch(text, -1)
	if len(arrays) != 1 {
		return nil, fmt.Errorf("%d klp_object arrays; want one", len(arrays))
	}
	out := map[string][]string{}
	for _, e := range entryRE.FindAllStringSubmatch(arrays[0][1], -1) {
		body := strings.TrimSpace(e[1])
		if body == "" {
			continue
		}
		obj := table.Vmlinux
		if n := objNameRE.FindStringSubmatch(body); n != nil {
			obj = n[1]
		}
		fm := objFuncsRE.FindStringSubmatch(body)
		if fm == nil {
			return nil, fmt.Errorf("klp_object entry %q has no .funcs", body)
		}
		names, err := funcArray(text, fm[1])
		if err != nil {
			return nil, err
		}
		out[obj] = names
	}
	return out, nil
}

// funcArray returns the old_names of the klp_func array name.
func funcArray(text, name string) ([]string, error) {
	var body string
	if a := regexp.MustCompile(fmt.Sprintf(funcArrayFmt, regexp.QuoteMeta(name))).FindStringSubmatch(text); a != nil {
		body = a[1]
	} else {
		for _, u := range macroUseRE.FindAllStringSubmatch(text, -1) {
			if u[2] == name {
				def := regexp.MustCompile(`(?s)#\s*define\s+` + regexp.QuoteMeta(u[1]) + `\(\w+\)((?:[^\n]*\\\n)*[^\n]*)`).FindStringSubmatch(text)
				if def == nil {
					return nil, fmt.Errorf("%s(%s): no such macro", u[1], name)
				}
				body = def[1]
			}
		}
	}
	if body == "" {
		return nil, fmt.Errorf("no klp_func array %s", name)
	}
	var out []string
	for _, n := range oldNameRE.FindAllStringSubmatch(body, -1) {
		out = append(out, n[1])
	}
	return out, nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestSourcesMatchTable(t *testing.T) {
	for _, e := range checkSources(tree(table.Modules), table.Modules) {
		t.Error(e)
	}
}

// A small tree in the sources' forms, and its table.
var (
	fixture = fstest.MapFS{
		"klpt_uapi.h": {Data: []byte("#define KLPT_VERSION_OLD 1 /* the original */\n")},
		"t.c":         {Data: []byte("#ifndef KLPT_TARGET_NAME\n#define KLPT_TARGET_NAME \"t\"\n#endif\n#include \"klpt_uapi.h\"\n")},
		"t2.c":        {Data: []byte("// a twin\n#define KLPT_TARGET_NAME \"t2\"\n#include \"t.c\"\n")},
		"body.h":      {Data: []byte(fixtureBody)},
		"p.c":         {Data: []byte("#define KLPT_PATCH_VERSION 2\n#define KLPT_PATCH_REPLACE false\n#define KLPT_PATCH_NOPS 0\n#include \"body.h\"\n")},
		"p2.c":        {Data: []byte("#define KLPT_PATCH_VERSION 3\n#define KLPT_PATCH_REPLACE true\n#define KLPT_PATCH_NOPS 0\n#include \"body.h\"\n")},
		"p3.c":        {Data: []byte("#define KLPT_PATCH_VERSION 4\n#define KLPT_PATCH_REPLACE true\n#define KLPT_PATCH_NOPS 1\n#include \"body.h\"\n")},
		"probe.c":     {Data: []byte("MODULE_LICENSE(\"GPL\");\n")},
	}
	fixtureTable = []table.Module{
		{Name: "t", Kind: table.Target, Version: 1},
		{Name: "t2", Kind: table.Target, Version: 1},
		{Name: "probe", Kind: table.Probe},
		{Name: "p", Kind: table.Livepatch, Version: 2, Patches: []string{table.Vmlinux, "t"}},
		{Name: "p2", Kind: table.Livepatch, Version: 3, Replace: true, Patches: []string{"t", table.Vmlinux}},
		{Name: "p3", Kind: table.Livepatch, Version: 4, Replace: true, Patches: []string{"t", table.Vmlinux}, Omits: []string{"t:klpt_park_func"}},
	}
)

// fixtureBody is a livepatch body in klpt_patch_body.h's forms: an array
// written out, arrays a macro makes, and the nops variant.
const fixtureBody = `#include "klpt_uapi.h"
static struct klp_func vmlinux_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = f, },
	{ .old_name = "proc_flush_pid", .new_func = f, },
	{ }
};
#define FUNCS(name)						\
	static struct klp_func name[] = {			\
		{ .old_name = "klpt_func", .new_func = f, },	\
		{ .old_name = "klpt_park_func", .new_func = f, }, \
		{ .old_name = "klpt_chain_outer", .new_func = f, }, \
		{ .old_name = "klpt_chain_inner", .new_func = f, }, \
		{ }						\
	}
#if KLPT_PATCH_NOPS
static struct klp_func t_funcs[] = {
	{ .old_name = "klpt_func", .new_func = f, },
	{ .old_name = "klpt_chain_outer", .new_func = f, },
	{ .old_name = "klpt_chain_inner", .new_func = f, },
	{ }
};
#else
FUNCS(t_funcs);
#endif
static struct klp_object objs[] = {
	{ .funcs = vmlinux_funcs, }, /* vmlinux */
	{ .name = "t", .funcs = t_funcs, },
	{ }
};
MODULE_INFO(livepatch, "Y");
`

// Each disagreement between the sources and the table is found and named.
func TestCheckSources(t *testing.T) {
	if errs := checkSources(fixture, fixtureTable); len(errs) > 0 {
		t.Fatalf("the fixture and its table disagree: %q", errs)
	}
	row := func(name string, f func(m *table.Module)) []table.Module {
		mods := slices.Clone(fixtureTable)
		i := slices.IndexFunc(mods, func(m table.Module) bool { return m.Name == name })
		f(&mods[i])
		return mods
	}
	withFile := func(name, text string) fstest.MapFS {
		s := maps.Clone(fixture)
		s[name] = &fstest.MapFile{Data: []byte(text)}
		return s
	}
	without := func(name string) []table.Module {
		return slices.DeleteFunc(slices.Clone(fixtureTable), func(m table.Module) bool { return m.Name == name })
	}
	for _, tc := range []struct {
		name string
		src  fstest.MapFS
		mods []table.Module
		want string
	}{
		{"no row", fixture, without("p2"), "p2.c: no row in table.Modules, so no Kbuild builds it"},
		{"no source", fixture, append(slices.Clone(fixtureTable), table.Module{Name: "p4", Kind: table.Livepatch, Version: 5}), "p4: a row in table.Modules, but there is no p4.c"},
		{"version", fixture, row("p2", func(m *table.Module) { m.Version = 7 }), "p2: KLPT_PATCH_VERSION is 3 in p2.c; the table says 7"},
		{"replace", fixture, row("p", func(m *table.Module) { m.Replace = true }), "p: KLPT_PATCH_REPLACE is false in p.c; the table says true"},
		{"patches", fixture, row("p", func(m *table.Module) { m.Patches = []string{table.Vmlinux, "t", "t2"} }),
			`p: p.c patches ["t" "vmlinux"]; the table says ["t" "t2" "vmlinux"]`},
		{"nops", fixture, row("p3", func(m *table.Module) { m.Omits = nil }), `p3: KLPT_PATCH_NOPS is 1 in p3.c; the table says it omits []`},
		{"omits", fixture, row("p3", func(m *table.Module) { m.Omits = []string{"t:klpt_chain_inner"} }),
			`p3: p3.c patches ["klpt_chain_inner" "klpt_chain_outer" "klpt_func"] in t; the table says ["klpt_func" "klpt_park_func" "klpt_chain_outer"]`},
		{"nops off", withFile("p.c", "#define KLPT_PATCH_VERSION 2\n#define KLPT_PATCH_REPLACE false\n#define KLPT_PATCH_NOPS 0\n#include \"body.h\"\n"),
			row("p", func(m *table.Module) { m.Omits = []string{"t:klpt_func"} }), `p: KLPT_PATCH_NOPS is 0 in p.c; the table says it omits ["t:klpt_func"]`},
		{"target name", withFile("t2.c", "#define KLPT_TARGET_NAME \"t3\"\n#include \"t.c\"\n"), fixtureTable,
			`t2: KLPT_TARGET_NAME is "t3" in t2.c; want "t2", the device /dev/t2 the agent opens`},
		{"target version", fixture, row("t2", func(m *table.Module) { m.Version = 2 }), "t2: its functions return KLPT_VERSION_OLD, 1; the table says 2"},
		{"patch as target", fixture, row("p", func(m *table.Module) { m.Kind = table.Target }),
			"p: p.c defines KLPT_PATCH_VERSION, yet the table says it is a target"},
		{"target as probe", fixture, row("t", func(m *table.Module) { m.Kind = table.Probe }),
			"t: t.c defines KLPT_TARGET_NAME, yet the table says it is a probe"},
		{"no version define", withFile("p.c", "#define KLPT_PATCH_REPLACE false\n#include \"body.h\"\n"), fixtureTable,
			"p: p.c does not define KLPT_PATCH_VERSION"},
		{"probe as patch", fixture, row("probe", func(m *table.Module) { m.Kind = table.Livepatch; m.Version = 9 }),
			`probe: probe.c is no livepatch: no MODULE_INFO(livepatch, "Y")`},
		{"unnamed object", withFile("body.h", "static struct klp_object objs[] = {\n\t{ .x = 1, },\n};\nMODULE_INFO(livepatch, \"Y\");\n"), without("p3"),
			`p: p.c: klp_object entry ".x = 1,": neither named nor vmlinux's`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := checkSources(tc.src, tc.mods)
			if !slices.Contains(errs, tc.want) {
				t.Errorf("checkSources = %q; want it to hold %q", errs, tc.want)
			}
		})
	}
}

// The versions the wire names are the ones the C returns and the default
// livepatch installs.
func TestWireVersions(t *testing.T) {
	text, err := csource.Expand(tree(table.Modules), "klpt_uapi.h")
	if err != nil {
		t.Fatal(err)
	}
	d := csource.Defines(text)
	def, _ := table.Patch(table.DefaultLivepatch)
	for _, c := range []struct {
		define, goName string
		goValue        int
	}{
		{"KLPT_VERSION_OLD", "wire.VersionOld", wire.VersionOld},
		{"KLPT_VERSION_NEW", "wire.VersionNew", wire.VersionNew},
		{"KLPT_VERSION_NEW", table.DefaultLivepatch + "'s version in the table", def.Version},
	} {
		v, err := csource.Int(d[c.define])
		if err != nil || v != int64(c.goValue) {
			t.Errorf("%s is %s in klpt_uapi.h (%v); %s is %d", c.define, d[c.define], err, c.goName, c.goValue)
		}
	}
}
