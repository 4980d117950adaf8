// Package csource reads, as text, the facts that klptest's Go code mirrors
// from its C test modules (kmod/src): #define values, struct fields, and a
// file's text with its local #includes in place. It is no preprocessor and
// uses no cgo: it knows the forms those sources use, and says so when it
// meets one it does not. Tests use it to hold the Go side to the C side.
package csource

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Expand returns the text of file name in fsys with its comments removed
// and each local #include "x" replaced by x's expanded text, as the
// compiler sees it; a file already included is not included again, as an
// include guard would have it. System includes (<...>) stay as they are.
func Expand(fsys fs.FS, name string) (string, error) {
	var b strings.Builder
	if err := expand(fsys, name, map[string]bool{}, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

var localInclude = regexp.MustCompile(`^\s*#\s*include\s+"([^"]+)"`)

func expand(fsys fs.FS, name string, seen map[string]bool, b *strings.Builder) error {
	if seen[name] {
		return nil
	}
	seen[name] = true
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(StripComments(string(src)), "\n") {
		if m := localInclude.FindStringSubmatch(line); m != nil {
			if err := expand(fsys, path.Join(path.Dir(name), m[1]), seen, b); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		b.WriteString(line)
	}
	return nil
}

// StripComments removes /* */ and // comments from C text, leaving string
// and character literals whole; a block comment becomes one space, or the
// newlines it spanned, so that lines keep their numbers.
func StripComments(src string) string {
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j, len(src)-1)
			b.WriteString(src[i : j+1])
			i = j
		case strings.HasPrefix(src[i:], "//"):
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j - 1
		case strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			body := src[i : i+2+j+2]
			if n := strings.Count(body, "\n"); n > 0 {
				b.WriteString(strings.Repeat("\n", n))
			} else {
				b.WriteByte(' ')
			}
			i += len(body) - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var define = regexp.MustCompile(`^\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)(\(|\s|$)(.*)`)

// Defines returns the object-like macros of comment-free text, name to
// value (trimmed; continued lines joined). A name defined twice keeps its
// first definition: in these sources that is the one in effect, as a file
// defines a name before it includes a body whose own definition is a
// default under #ifndef. Function-like macros are left out.
func Defines(text string) map[string]string {
	out := map[string]string{}
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		m := define.FindStringSubmatch(line)
		if m == nil || m[2] == "(" {
			continue
		}
		if _, ok := out[m[1]]; !ok {
			out[m[1]] = strings.TrimSpace(m[3])
		}
	}
	return out
}

var ioc = regexp.MustCompile(`^_IO\(\s*('(?:[^'\\]|\\.)'|[0-9A-Fa-fx]+)\s*,\s*([0-9A-Fa-fx]+)\s*\)$`)

// Int evaluates a macro's value: a decimal, octal or hex integer, a
// character constant, true or false, or _IO(type, nr), whose value is
// (type << 8) | nr where _IOC_NONE is 0 (amd64, arm64 and most other
// architectures; not mips, powerpc, sparc).
func Int(v string) (int64, error) {
	v = strings.TrimSpace(v)
	for len(v) > 1 && v[0] == '(' && v[len(v)-1] == ')' {
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	switch v {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	}
	if m := ioc.FindStringSubmatch(v); m != nil {
		typ, err := Int(m[1])
		if err != nil {
			return 0, err
		}
		nr, err := Int(m[2])
		if err != nil {
			return 0, err
		}
		return typ<<8 | nr, nil
	}
	if len(v) >= 3 && v[0] == '\'' && v[len(v)-1] == '\'' {
		r, _, tail, err := strconv.UnquoteChar(v[1:len(v)-1], '\'')
		if err != nil || tail != "" {
			return 0, fmt.Errorf("character constant %s: not one character", v)
		}
		return int64(r), nil
	}
	n, err := strconv.ParseInt(strings.TrimRight(v, "uUlL"), 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is no integer constant this package knows", v)
	}
	return n, nil
}

// Field is one member of a C struct.
type Field struct {
	Type string // as written, spaces single: "__u64", "unsigned int"
	Name string
}

var structBody = regexp.MustCompile(`(?s)\bstruct\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{([^{}]*)\}\s*;`)

// StructNames returns the names of the structs comment-free text defines,
// in order.
func StructNames(text string) []string {
	var out []string
	for _, m := range structBody.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// Struct returns the members of struct name, in order. Members of scalar
// type are all it knows: a member that is an array, a pointer, a bit-field
// or a nested struct is an error, so that a mirror is never checked against
// half a struct.
func Struct(text, name string) ([]Field, error) {
	for _, m := range structBody.FindAllStringSubmatch(text, -1) {
		if m[1] == name {
			return fields(name, m[2])
		}
	}
	return nil, fmt.Errorf("no struct %s", name)
}

func fields(name, body string) ([]Field, error) {
	var out []Field
	for _, decl := range strings.Split(body, ";") {
		decl = strings.Join(strings.Fields(decl), " ")
		if decl == "" {
			continue
		}
		if strings.ContainsAny(decl, "[]*:(){}") {
			return nil, fmt.Errorf("struct %s: member %q is not a plain scalar", name, decl)
		}
		// "TYPE a, b": the type is the words before the first name.
		first, rest, _ := strings.Cut(decl, ",")
		words := strings.Fields(first)
		if len(words) < 2 {
			return nil, fmt.Errorf("struct %s: member %q has no type", name, decl)
		}
		typ := strings.Join(words[:len(words)-1], " ")
		names := []string{words[len(words)-1]}
		if rest != "" {
			for _, n := range strings.Split(rest, ",") {
				names = append(names, strings.TrimSpace(n))
			}
		}
		for _, n := range names {
			out = append(out, Field{Type: typ, Name: n})
		}
	}
	return out, nil
}

// Sizes are the byte sizes of the fixed-width kernel types (linux/types.h),
// which a struct shared with userspace uses.
var Sizes = map[string]int{
	"__u8": 1, "__s8": 1, "__u16": 2, "__s16": 2,
	"__u32": 4, "__s32": 4, "__u64": 8, "__s64": 8,
}

var conditional = regexp.MustCompile(`^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b\s*(.*?)\s*$`)

// Select returns text with each `#if name` block resolved: the lines of its
// first branch when on, of its #else branch when not, and neither
// directive. Other conditionals, and what they hold, stay as they are; an
// #elif in a block of name's is an error, as is a block left open.
func Select(text, name string, on bool) (string, error) {
	type frame struct{ ours, keep bool }
	var stack []frame
	emitting := func() bool {
		for _, f := range stack {
			if f.ours && !f.keep {
				return false
			}
		}
		return true
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		m := conditional.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil {
			if emitting() {
				b.WriteString(line)
			}
			continue
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = &stack[n-1]
		}
		switch {
		case m[1] == "if" && m[2] == name:
			stack = append(stack, frame{ours: true, keep: on})
			continue
		case m[1] == "if" || m[1] == "ifdef" || m[1] == "ifndef":
			out := emitting()
			stack = append(stack, frame{})
			if out {
				b.WriteString(line)
			}
			continue
		case top == nil:
			return "", fmt.Errorf("#%s without #if", m[1])
		case top.ours && m[1] == "elif":
			return "", fmt.Errorf("#elif in an #if %s block: not a form klptest's sources use", name)
		case top.ours && m[1] == "else":
			top.keep = !top.keep
			continue
		case top.ours: // #endif
			stack = stack[:len(stack)-1]
			continue
		}
		if m[1] == "endif" {
			stack = stack[:len(stack)-1]
		}
		if emitting() {
			b.WriteString(line)
		}
	}
	if len(stack) > 0 {
		return "", fmt.Errorf("%d conditional(s) left open", len(stack))
	}
	return b.String(), nil
}
