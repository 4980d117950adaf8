package agent

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kmod/csource"
	"github.com/klptest/klptest/wire"
)

// uapiMirror is the Go side of klpt_uapi.h: each #define of a mirrored
// family by name, and each struct by name.
type uapiMirror struct {
	defines  map[string]int64
	families []string // name prefixes: every such define must be mirrored
	structs  map[string]any
}

var agentUAPI = uapiMirror{
	defines: map[string]int64{
		"KLPT_IOC_CALL":             iocCall,
		"KLPT_IOC_PARK":             iocPark,
		"KLPT_IOC_RELEASE":          iocRelease,
		"KLPT_IOC_PARKED":           iocParked,
		"KLPT_IOC_KTHREAD_START":    iocKStart,
		"KLPT_IOC_KTHREAD_INFO":     iocKInfo,
		"KLPT_IOC_KTHREAD_STOP":     iocKStop,
		"KLPT_IOC_CHAIN":            iocChain,
		"KLPT_IOC_SPIN_START":       iocSpin,
		"KLPT_HOOK_NONE":            hookNone,
		"KLPT_HOOK_RUN":             hookRun,
		"KLPT_CHAIN_MAX":            chainMax,
		"KLPT_CHAIN_PARK_NONE":      0,
		"KLPT_CHAIN_PARK_INNER":     cases.ChainParkInner,
		"KLPT_CHAIN_PARK_OUTER":     cases.ChainParkOuter,
		"KLPT_CHAIN_PARK_LOOP":      cases.ChainParkLoop,
		"KLPT_CHAIN_AT_SPIN":        wire.ChainAtSpin,
		"KLPT_CHAIN_AT_PARK":        wire.ChainAtPark,
		"KLPT_PARK_INTERRUPTIBLE":   cases.ParkInterruptible,
		"KLPT_PARK_UNINTERRUPTIBLE": cases.ParkUninterruptible,
		"KLPT_PARK_ONCE":            cases.ParkOnce,
		"KLPT_PARK_SPIN":            cases.ParkSpin,
		"KLPT_SLOTS":                klptSlots,
	},
	families: []string{"KLPT_IOC_", "KLPT_PARK_", "KLPT_SLOTS", "KLPT_CHAIN_", "KLPT_HOOK_"},
	structs: map[string]any{
		"klpt_call":         klptCall{},
		"klpt_kthread_info": kthreadInfo{},
		"klpt_chain_call":   klptChainCall{},
	},
}

// checkUAPI returns every way header text and the mirror disagree: a value
// that differs, a define of a mirrored family or a struct that Go lacks, a
// struct whose fields differ in order, name, size or sign.
func checkUAPI(text string, m uapiMirror) []string {
	var errs []string
	d := csource.Defines(text)
	for name, v := range d {
		for _, f := range m.families {
			if _, ok := m.defines[name]; strings.HasPrefix(name, f) && !ok {
				errs = append(errs, fmt.Sprintf("%s (%s): no Go mirror", name, v))
			}
		}
	}
	for name, want := range m.defines {
		v, ok := d[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: mirrored in Go, but klpt_uapi.h does not define it", name))
			continue
		}
		got, err := csource.Int(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
		} else if got != want {
			errs = append(errs, fmt.Sprintf("%s is %s (%#x) in klpt_uapi.h; Go has %#x", name, v, got, want))
		}
	}
	for _, name := range csource.StructNames(text) {
		goStruct, ok := m.structs[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("struct %s: no Go mirror", name))
			continue
		}
		fields, err := csource.Struct(text, name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		errs = append(errs, checkStruct(name, fields, reflect.TypeOf(goStruct))...)
	}
	for name := range m.structs {
		if _, err := csource.Struct(text, name); err != nil {
			errs = append(errs, fmt.Sprintf("struct %s: mirrored in Go, but klpt_uapi.h does not define it", name))
		}
	}
	return errs
}

// checkStruct holds a Go struct to C fields of the fixed-width types: the
// same fields in the same order (names alike but for case), each of the same
// size and sign, and no padding on either side.
func checkStruct(name string, fields []csource.Field, gt reflect.Type) []string {
	var errs []string
	if gt.NumField() != len(fields) {
		errs = append(errs, fmt.Sprintf("struct %s has %d fields; Go's %s has %d", name, len(fields), gt.Name(), gt.NumField()))
	}
	size := 0
	for i, f := range fields {
		n, ok := csource.Sizes[f.Type]
		if !ok {
			errs = append(errs, fmt.Sprintf("struct %s: %s %s: not a fixed-width type", name, f.Type, f.Name))
			continue
		}
		size += n
		if i >= gt.NumField() {
			continue
		}
		g := gt.Field(i)
		signed := strings.HasPrefix(f.Type, "__s")
		goSigned := g.Type.Kind() >= reflect.Int && g.Type.Kind() <= reflect.Int64
		// Go spells spin_us SpinUs.
		if !strings.EqualFold(g.Name, strings.ReplaceAll(f.Name, "_", "")) || int(g.Type.Size()) != n || signed != goSigned {
			errs = append(errs, fmt.Sprintf("struct %s field %d is %s %s; Go's %s has %s %s", name, i, f.Type, f.Name, gt.Name(), g.Name, g.Type))
		}
	}
	if int(gt.Size()) != size {
		errs = append(errs, fmt.Sprintf("struct %s is %d bytes unpadded; Go's %s is %d", name, size, gt.Name(), gt.Size()))
	}
	return errs
}

func readUAPI(t *testing.T) string {
	b, err := os.ReadFile("../../kmod/src/klpt_uapi.h")
	if err != nil {
		t.Fatal(err)
	}
	return csource.StripComments(string(b))
}

// The agent's ioctl numbers, structs, park modes and slot count are the
// module's.
func TestUAPI(t *testing.T) {
	b, err := os.ReadFile("../../kmod/src/klpt_uapi.h")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range checkUAPI(csource.StripComments(string(b)), agentUAPI) {
		t.Error(e)
	}
}

// The exits storm's threads take the name the livepatches' proc_flush_pid()
// looks for: klpt_uapi.h's KLPT_EXIT_COMM, a string, which checkUAPI's
// integer defines do not cover.
func TestExitComm(t *testing.T) {
	b, err := os.ReadFile("../../kmod/src/klpt_uapi.h")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#define KLPT_EXIT_COMM "([^"]*)"`).FindStringSubmatch(csource.StripComments(string(b)))
	if m == nil {
		t.Fatal("klpt_uapi.h defines no KLPT_EXIT_COMM string")
	}
	if m[1] != cases.ExitComm {
		t.Errorf("KLPT_EXIT_COMM is %q in klpt_uapi.h; cases.ExitComm is %q", m[1], cases.ExitComm)
	}
	if len(cases.ExitComm) > 15 {
		t.Errorf("cases.ExitComm %q is longer than a comm (15 bytes)", cases.ExitComm)
	}
}

// Each disagreement between a header and its mirror is found and named.
func TestCheckUAPI(t *testing.T) {
	const header = `
#define KLPT_PARK_A 0 /* a mode */
#define KLPT_IOC_X _IO('k', 1)
#define OTHER 5
struct klpt_s {
	__u64 t0;
	__s32 a, b;
};
`
	type s struct {
		T0   uint64
		A, B int32
	}
	type swapped struct {
		T0   uint64
		B, A int32
	}
	type short struct{ T0 uint64 }
	type unsigned struct {
		T0   uint64
		A, B uint32
	}
	type padded struct {
		T0   uint64
		A, B int32
		C    int64
	}
	mirror := func(f func(m *uapiMirror)) uapiMirror {
		m := uapiMirror{
			defines:  map[string]int64{"KLPT_PARK_A": 0, "KLPT_IOC_X": 0x6b01},
			families: []string{"KLPT_IOC_", "KLPT_PARK_"},
			structs:  map[string]any{"klpt_s": s{}},
		}
		f(&m)
		return m
	}
	same := func(m *uapiMirror) {}
	if errs := checkUAPI(csource.StripComments(header), mirror(same)); len(errs) > 0 {
		t.Fatalf("the header and its mirror disagree: %q", errs)
	}
	for _, tc := range []struct {
		name   string
		header string
		m      func(m *uapiMirror)
		want   string
	}{
		{"ioctl number", header, func(m *uapiMirror) { m.defines["KLPT_IOC_X"] = 0x6b02 }, "KLPT_IOC_X is _IO('k', 1) (0x6b01) in klpt_uapi.h; Go has 0x6b02"},
		{"park mode", strings.Replace(header, "KLPT_PARK_A 0", "KLPT_PARK_A 3", 1), same, "KLPT_PARK_A is 3 (0x3) in klpt_uapi.h; Go has 0x0"},
		{"new define", header + "#define KLPT_IOC_NEW _IO('k', 8)\n", same, "KLPT_IOC_NEW (_IO('k', 8)): no Go mirror"},
		{"gone define", header, func(m *uapiMirror) { m.defines["KLPT_PARK_B"] = 1 }, "KLPT_PARK_B: mirrored in Go, but klpt_uapi.h does not define it"},
		{"no constant", strings.Replace(header, "_IO('k', 1)", "_IOR('k', 1, int)", 1), same, `KLPT_IOC_X: "_IOR('k', 1, int)" is no integer constant this package knows`},
		{"field order", header, func(m *uapiMirror) { m.structs["klpt_s"] = swapped{} }, "struct klpt_s field 1 is __s32 a; Go's swapped has B int32"},
		{"field count", header, func(m *uapiMirror) { m.structs["klpt_s"] = short{} }, "struct klpt_s has 3 fields; Go's short has 1"},
		{"struct size", header, func(m *uapiMirror) { m.structs["klpt_s"] = short{} }, "struct klpt_s is 16 bytes unpadded; Go's short is 8"},
		{"sign", header, func(m *uapiMirror) { m.structs["klpt_s"] = unsigned{} }, "struct klpt_s field 1 is __s32 a; Go's unsigned has A uint32"},
		{"more in Go", header, func(m *uapiMirror) { m.structs["klpt_s"] = padded{} }, "struct klpt_s is 16 bytes unpadded; Go's padded is 24"},
		{"type", strings.Replace(header, "__s32 a, b", "int a, b", 1), same, "struct klpt_s: int a: not a fixed-width type"},
		{"new struct", header + "struct klpt_new { __u32 x; };\n", same, "struct klpt_new: no Go mirror"},
		{"gone struct", header, func(m *uapiMirror) { m.structs["klpt_t"] = s{} }, "struct klpt_t: mirrored in Go, but klpt_uapi.h does not define it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := checkUAPI(csource.StripComments(tc.header), mirror(tc.m))
			if !slices.Contains(errs, tc.want) {
				t.Errorf("checkUAPI = %q; want it to hold %q", errs, tc.want)
			}
		})
	}
}
