package kernels

import (
	"embed"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// The config fragments klptest builds kernels with: base and livepatch for
// every arch, one per arch, and optional ones (debug) asked for by name.
//
//go:embed fragments/*.config
var fragmentFS embed.FS

// Fragment is one config fragment: lines of CONFIG_X=V and
// "# CONFIG_X is not set".
type Fragment struct {
	Name string // "base.config", or the path of a user's file
	Text string
}

// Option is one setting a fragment asks for; Value "n" is "is not set".
type Option struct {
	Name, Value string
	From        string // the fragment asking for it
}

var (
	setRE   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetRE = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// ParseFragment reads a fragment's options; any other line that is not a
// comment or blank is an error, since merge_config.sh would ignore it.
func ParseFragment(f Fragment) ([]Option, error) {
	var opts []Option
	for i, l := range strings.Split(f.Text, "\n") {
		l = strings.TrimSpace(l)
		if m := setRE.FindStringSubmatch(l); m != nil {
			opts = append(opts, Option{Name: m[1], Value: m[2], From: f.Name})
			continue
		}
		if m := unsetRE.FindStringSubmatch(l); m != nil {
			opts = append(opts, Option{Name: m[1], Value: "n", From: f.Name})
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return nil, fmt.Errorf("config fragment %s line %d: %q is neither CONFIG_X=VALUE nor \"# CONFIG_X is not set\"", f.Name, i+1, l)
	}
	return opts, nil
}

// StandardFragments are the fragments every build of arch gets, in order.
func StandardFragments(arch string) []string {
	return []string{"base", "livepatch", arch}
}

// fragments loads the standard fragments for a, then the extra ones.
func (s *Source) fragments(a Arch) ([]Fragment, error) {
	var out []Fragment
	for _, n := range append(StandardFragments(a.Name), s.Fragments...) {
		f, err := LoadFragment(n)
		if err != nil {
			return nil, err
		}
		if _, err := ParseFragment(f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// LoadFragment loads one of klptest's fragments by name, or a file.
func LoadFragment(name string) (Fragment, error) {
	if !strings.ContainsRune(name, '/') && !strings.HasSuffix(name, ".config") {
		b, err := fragmentFS.ReadFile("fragments/" + name + ".config")
		if err != nil {
			return Fragment{}, fmt.Errorf("no config fragment %q: klptest has %s; or give a file's path", name, strings.Join(FragmentNames(), ", "))
		}
		return Fragment{Name: name + ".config", Text: string(b)}, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return Fragment{}, fmt.Errorf("config fragment: %w", err)
	}
	return Fragment{Name: name, Text: string(b)}, nil
}

// FragmentNames lists klptest's own fragments.
func FragmentNames() []string {
	ents, _ := fragmentFS.ReadDir("fragments")
	var n []string
	for _, e := range ents {
		n = append(n, strings.TrimSuffix(e.Name(), ".config"))
	}
	return n
}

func fragmentNames(fs []Fragment) string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name)
	}
	return strings.Join(n, " + ")
}

// VerifyConfig checks that every option the fragments ask for survived into
// the final config: olddefconfig silently drops an option whose
// dependencies are not met, and a kernel quietly missing, say, its reliable
// unwinder would make every later verdict worthless. A later fragment
// overrides an earlier one, as in merge_config.sh.
func VerifyConfig(frags []Fragment, final Config, arch string) error {
	want := map[string]Option{}
	var order []string
	for _, f := range frags {
		opts, err := ParseFragment(f)
		if err != nil {
			return err
		}
		for _, o := range opts {
			if _, ok := want[o.Name]; !ok {
				order = append(order, o.Name)
			}
			want[o.Name] = o
		}
	}
	var lost []string
	for _, n := range order {
		o := want[n]
		got, ok := final[n]
		if !ok {
			got = "n"
		}
		if got == o.Value {
			continue
		}
		shown := "not set"
		if ok {
			shown = n + "=" + got
		}
		lost = append(lost, fmt.Sprintf("%s=%s (from %s; the config has %s)", n, o.Value, o.From, shown))
	}
	if len(lost) == 0 {
		return nil
	}
	return &DroppedOptionsError{Arch: arch, Options: lost}
}

// DroppedOptionsError: options a fragment asks for that kconfig dropped.
type DroppedOptionsError struct {
	Arch    string
	Options []string
}

func (e *DroppedOptionsError) Error() string {
	return fmt.Sprintf("config for %s lost %s: %s does not have it, or its dependencies are not met; drop it from the fragment or add what it depends on",
		e.Arch, strings.Join(e.Options, ", "), e.Arch)
}
