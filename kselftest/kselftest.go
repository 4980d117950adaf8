// Package kselftest owns the kernel's own livepatch selftests
// (tools/testing/selftests/livepatch of a kernel source tree) as a klptest
// suite: which scripts there are and what config they need (read from the
// selftests' own Makefile and config, pure), and, at the edges, what the
// guest needs to run them: their test modules built against the kernel,
// their helper program, and a Debian userland (bash and the GNU tools the
// scripts call), all cached. The guest agent runs the scripts
// (guest/agent), one case each.
package kselftest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/kernels"
)

// Dir is where the livepatch selftests live in a kernel source tree.
const Dir = "tools/testing/selftests/livepatch"

// Suite is one kernel source tree's livepatch selftests.
type Suite struct {
	Dir     string   // the selftests' directory
	Scripts []string // TEST_PROGS, in the Makefile's order
	Modules []string // the test modules (obj-m of test_modules/), sorted
	// Helpers are the C programs the scripts run (TEST_GEN_FILES).
	Helpers []string
	// Config is what the selftests' config file asks of the kernel.
	Config map[string]string
}

// Load reads the selftests of the source tree src.
func Load(src string) (*Suite, error) {
	dir := filepath.Join(src, Dir)
	mk, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return nil, fmt.Errorf("the kernel source %s has no livepatch selftests (%s/Makefile): %w", src, Dir, unwrap(err))
	}
	s := &Suite{Dir: dir, Scripts: MakeList(string(mk), "TEST_PROGS"), Helpers: MakeList(string(mk), "TEST_GEN_FILES")}
	if len(s.Scripts) == 0 {
		return nil, fmt.Errorf("%s/Makefile lists no TEST_PROGS", dir)
	}
	tm, err := os.ReadFile(filepath.Join(dir, "test_modules", "Makefile"))
	if err != nil {
		return nil, fmt.Errorf("livepatch selftests in %s: %w", dir, unwrap(err))
	}
	for _, o := range MakeList(string(tm), "obj-m") {
		s.Modules = append(s.Modules, strings.TrimSuffix(o, ".o"))
	}
	sort.Strings(s.Modules)
	if len(s.Modules) == 0 {
		return nil, fmt.Errorf("%s/test_modules/Makefile lists no modules (obj-m)", dir)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil {
		return nil, fmt.Errorf("livepatch selftests in %s: %w", dir, unwrap(err))
	}
	s.Config = kernels.ParseConfig(cfg)
	return s, nil
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

var assignRE = regexp.MustCompile(`^([A-Za-z_-]+)\s*(?::=|\+=|=)\s*(.*)$`)

// MakeList returns the words assigned to variable name in a Makefile
// (":=", "=" and "+=", with backslash continuations), in order.
func MakeList(makefile, name string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(makefile))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if !in {
			m := assignRE.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil || m[1] != name {
				continue
			}
			line, in = m[2], true
		}
		cont := strings.HasSuffix(strings.TrimSpace(line), `\`)
		out = append(out, strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), `\`))...)
		in = cont
	}
	return out
}

// MissingConfig lists what the selftests' config asks that the kernel's
// config lacks, as "CONFIG_X=y (not set)", sorted.
func (s *Suite) MissingConfig(have kernels.Config) []string {
	var out []string
	for k, v := range s.Config {
		got, ok := have[k]
		if ok && (got == v || (v == "m" && got == "y")) {
			continue
		}
		if !ok {
			got = "not set"
		}
		out = append(out, fmt.Sprintf("%s=%s (%s)", k, v, got))
	}
	sort.Strings(out)
	return out
}

// Select picks the scripts named (a script's file name, or without its
// "test-" and ".sh": "callbacks"), in the suite's order; none named is
// all of them. An unknown name is an error that lists the known ones.
func (s *Suite) Select(names []string) ([]string, error) {
	if len(names) == 0 {
		return s.Scripts, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		found := false
		for _, sc := range s.Scripts {
			if n == sc || n == ShortName(sc) || n == cases.KselftestPrefix+sc {
				want[sc], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown selftest %q (this kernel's: %s)", n, strings.Join(s.Scripts, ", "))
		}
	}
	var out []string
	for _, sc := range s.Scripts {
		if want[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}

// ShortName is a script's name without "test-" and ".sh".
func ShortName(script string) string {
	return strings.TrimSuffix(strings.TrimPrefix(script, "test-"), ".sh")
}
