package csource

import (
	"reflect"
	"testing"
	"testing/fstest"
)

func TestStripComments(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a /* b */ c", "a   c"},
		{"a // b\nc", "a \nc"},
		{"a /* b\n\nc */ d", "a \n\n d"},
		{`s = "no // comment /* here */";`, `s = "no // comment /* here */";`},
		{`c = '"'; /* x */ d = "\" // y";`, `c = '"';   d = "\" // y";`},
		{"a /* never closed", "a "},
	} {
		if got := StripComments(tc.in); got != tc.want {
			t.Errorf("StripComments(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	fsys := fstest.MapFS{
		"two.c":  {Data: []byte("#define NAME \"two\" /* first wins */\n#include \"one.c\"\n")},
		"one.c":  {Data: []byte("#ifndef NAME\n#define NAME \"one\"\n#endif\n#include \"a.h\"\n#include <linux/module.h>\nint f(void);\n")},
		"a.h":    {Data: []byte("#include \"b.h\"\n#define A 1\n")},
		"b.h":    {Data: []byte("#include \"a.h\"\n#define B 2 // b\n")},
		"bad.c":  {Data: []byte("#include \"gone.h\"\n")},
		"loop.h": {Data: []byte("#include \"loop.h\"\n#define L 1\n")},
	}
	got, err := Expand(fsys, "two.c")
	if err != nil {
		t.Fatal(err)
	}
	want := "#define NAME \"two\"  \n#ifndef NAME\n#define NAME \"one\"\n#endif\n#define B 2 \n#define A 1\n#include <linux/module.h>\nint f(void);\n"
	if got != want {
		t.Errorf("Expand = %q; want %q", got, want)
	}
	d := Defines(got)
	if d["NAME"] != `"two"` || d["A"] != "1" || d["B"] != "2" {
		t.Errorf("Defines = %q", d)
	}
	if _, err := Expand(fsys, "bad.c"); err == nil {
		t.Error("Expand of a file including a missing one: no error")
	}
	if got, err := Expand(fsys, "loop.h"); err != nil || Defines(got)["L"] != "1" {
		t.Errorf("Expand of a file including itself = %q, %v", got, err)
	}
}

func TestDefines(t *testing.T) {
	got := Defines("#define A 1\n  #  define B  (2)  \n#define F(x) ((x)+1)\n#define LONG 1 + \\\n 2\n#define EMPTY\n#define A 3\n")
	want := map[string]string{"A": "1", "B": "(2)", "LONG": "1 +   2", "EMPTY": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Defines = %q; want %q", got, want)
	}
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"2", 2}, {"(8)", 8}, {"0x6b01", 0x6b01}, {"010", 8}, {"16U", 16},
		{"'k'", 'k'}, {`'\n'`, '\n'}, {"true", 1}, {"false", 0},
		{"_IO('k', 1)", 0x6b01}, {"_IO( 'k' , 0x10 )", 0x6b10},
	} {
		if got, err := Int(tc.in); err != nil || got != tc.want {
			t.Errorf("Int(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"_IOR('k', 1, int)", "A + 1", "'ab'", `"s"`, ""} {
		if got, err := Int(in); err == nil {
			t.Errorf("Int(%q) = %d; want an error", in, got)
		}
	}
}

func TestStruct(t *testing.T) {
	text := `struct call {
	__u64 t0;
	__u64 t1, t2;
	unsigned  int n;
};
struct bad { int *p; };
static struct call c = { 0 };
struct arr { __u8 b[4]; };
`
	if got := StructNames(text); !reflect.DeepEqual(got, []string{"call", "bad", "arr"}) {
		t.Errorf("StructNames = %q", got)
	}
	got, err := Struct(text, "call")
	want := []Field{{"__u64", "t0"}, {"__u64", "t1"}, {"__u64", "t2"}, {"unsigned int", "n"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Struct(call) = %q, %v; want %q", got, err, want)
	}
	for _, name := range []string{"bad", "arr", "gone"} {
		if got, err := Struct(text, name); err == nil {
			t.Errorf("Struct(%s) = %q; want an error", name, got)
		}
	}
}

func TestSelect(t *testing.T) {
	src := "a\n#ifndef G\n#if N\nb\n#ifdef X\nc\n#endif\n#else\nd\n#endif\n#endif\ne\n"
	for _, tc := range []struct {
		on   bool
		want string
	}{
		{true, "a\n#ifndef G\nb\n#ifdef X\nc\n#endif\n#endif\ne\n"},
		{false, "a\n#ifndef G\nd\n#endif\ne\n"},
	} {
		got, err := Select(src, "N", tc.on)
		if err != nil || got != tc.want {
			t.Errorf("Select(N=%v) = %q, %v; want %q", tc.on, got, err, tc.want)
		}
	}
	for _, bad := range []string{"#if N\na\n", "#endif\n", "#if N\n#elif M\n#endif\n"} {
		if _, err := Select(bad, "N", true); err == nil {
			t.Errorf("Select(%q) took it", bad)
		}
	}
}
