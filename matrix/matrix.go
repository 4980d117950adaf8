// Package matrix owns the kernels file: the cells of the matrix kernel CI
// runs (a kernel spec, an arch, fragments, cases, an accel), its strict
// decoding and validation, and the plan of a run: which cells, in which
// shard. It does no I/O.
package matrix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	"go.yaml.in/yaml/v3"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
)

// Version is the kernels file format this klptest reads.
const Version = 1

// File is a kernels file.
type File struct {
	Version int    `yaml:"version" json:"version"`
	Cells   []Cell `yaml:"cells" json:"cells"`
}

// Cell is one kernel on one arch, and what to run on it.
type Cell struct {
	Name      string   `yaml:"name" json:"name"`
	Kernel    string   `yaml:"kernel" json:"kernel"`
	Arch      string   `yaml:"arch" json:"arch"`
	Fragments []string `yaml:"fragments,omitempty" json:"fragments,omitempty"`
	Cases     []string `yaml:"cases,omitempty" json:"cases,omitempty"` // empty: all
	// Suite: klptest (its cases, the default), kselftest (the kernel's
	// own livepatch selftests; cases then names scripts) or all.
	Suite string `yaml:"suite,omitempty" json:"suite,omitempty"`
	Accel string `yaml:"accel,omitempty" json:"accel,omitempty"` // "", "tcg" or "kvm"; "" = detect
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Parse decodes and validates a kernels file. Unknown keys are errors, and
// validation reports every problem at once, each with its path
// (cells[3].arch: ...).
func Parse(b []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("kernels file is empty: want version: %d and a list of cells", Version)
		}
		return nil, fmt.Errorf("kernels file: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate checks the file and returns every problem, as a
// *multierror.Error.
func (f *File) Validate() error {
	var errs *multierror.Error
	add := func(path, format string, a ...any) {
		errs = multierror.Append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	if f.Version != Version {
		add("version", "is %d; this klptest reads version %d", f.Version, Version)
	}
	if len(f.Cells) == 0 {
		add("cells", "no cells: list at least one")
	}
	seen := map[string]int{}
	for i, c := range f.Cells {
		p := fmt.Sprintf("cells[%d]", i)
		switch {
		case c.Name == "":
			add(p+".name", "missing")
		case !nameRE.MatchString(c.Name):
			add(p+".name", "%q: use lower-case letters, digits, '.', '_' and '-'", c.Name)
		default:
			if j, dup := seen[c.Name]; dup {
				add(p+".name", "%q is cells[%d]'s name too", c.Name, j)
			}
			seen[c.Name] = i
		}
		var ref kernels.Ref
		if c.Kernel == "" {
			add(p+".kernel", "missing: a spec such as debian:6.12 or src:debian:7.2")
		} else if r, err := kernels.ParseRef(c.Kernel); err != nil {
			add(p+".kernel", "%v", err)
		} else {
			ref = r
		}
		if c.Arch == "" {
			add(p+".arch", "missing: x86_64 or arm64")
		} else if _, err := kernels.LookupArch(c.Arch); err != nil {
			add(p+".arch", "%v", err)
		}
		if len(c.Fragments) > 0 && ref.Kind != "" && ref.Kind != "src" {
			add(p+".fragments", "apply to kernels built from source (src:), not to %s", c.Kernel)
		}
		for j, fr := range c.Fragments {
			if fr == "" {
				add(fmt.Sprintf("%s.fragments[%d]", p, j), "empty")
			}
		}
		switch c.Suite {
		case "", "klptest":
			for j, n := range c.Cases {
				if _, err := cases.Lookup([]string{n}); err != nil {
					add(fmt.Sprintf("%s.cases[%d]", p, j), "%v", err)
				}
			}
		case "kselftest": // the scripts are known from the kernel's source
		case "all":
			if len(c.Cases) > 0 {
				add(p+".cases", "suite all runs every case of both suites: leave cases out, or give suite klptest or kselftest")
			}
		default:
			add(p+".suite", "%q: want klptest, kselftest or all, or leave it out for klptest", c.Suite)
		}
		switch c.Accel {
		case "", "tcg", "kvm":
		default:
			add(p+".accel", "%q: want tcg or kvm, or leave it out to detect", c.Accel)
		}
	}
	return errs.ErrorOrNil()
}

// Select returns the cells named in only, in file order; all when only is
// empty. An unknown name is an error that lists the known ones.
func (f *File) Select(only []string) ([]Cell, error) {
	if len(only) == 0 {
		return f.Cells, nil
	}
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	var out []Cell
	for _, c := range f.Cells {
		if want[c.Name] {
			out = append(out, c)
			delete(want, c.Name)
		}
	}
	if len(want) > 0 {
		var unknown, known []string
		for n := range want {
			unknown = append(unknown, n)
		}
		for _, c := range f.Cells {
			known = append(known, c.Name)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("no cell %s in the kernels file (cells: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}

// ParseShard parses "I/N" (1 <= I <= N).
func ParseShard(s string) (i, n int, err error) {
	if _, err := fmt.Sscanf(s, "%d/%d", &i, &n); err != nil || n < 1 || i < 1 || i > n || fmt.Sprintf("%d/%d", i, n) != s {
		return 0, 0, fmt.Errorf("--shard %q: want I/N with 1 <= I <= N, e.g. 1/4", s)
	}
	return i, n, nil
}

// Shard returns shard i of n (1-based): the cells whose position in file
// order is i-1 modulo n. Every cell is in exactly one shard, and the split
// depends only on the file, so N CI workers agree on it.
func Shard(cells []Cell, i, n int) []Cell {
	var out []Cell
	for k, c := range cells {
		if k%n == i-1 {
			out = append(out, c)
		}
	}
	return out
}

// GitHub is the JSON a GitHub Actions strategy.matrix takes through
// fromJSON: {"include": [cell, ...]}, each cell with its name, kernel and
// arch (and what else it sets), plus a cache key for its kernel.
func GitHub(cells []Cell) ([]byte, error) {
	type entry struct {
		Cell
		CacheKey string `json:"cache_key"`
	}
	m := struct {
		Include []entry `json:"include"`
	}{Include: []entry{}}
	for _, c := range cells {
		key := strings.NewReplacer(":", "-", "/", "_", "@", "-").Replace(c.Kernel) + "-" + c.Arch
		frags := c.Fragments
		if (c.Suite == "kselftest" || c.Suite == "all") && strings.HasPrefix(c.Kernel, "src:") {
			frags = append(append([]string{}, frags...), "kselftest") // the run adds it: another build
		}
		if len(frags) > 0 {
			key += "-" + strings.Join(frags, "+")
		}
		m.Include = append(m.Include, entry{Cell: c, CacheKey: key})
	}
	return json.Marshal(m)
}
