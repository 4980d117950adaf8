package mutants

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// defaultSrc is where klptest's CI unpacks linux-source 7.2; the env
// KLPTEST_MUTANTS_SRC names another tree.
const defaultSrc = "/tmp/ci.UgZD/cache/klptest/src/linux-source-7.2_7.2.13-1"

var idRE = regexp.MustCompile(`^(tr|pa|co)-[a-z0-9]+(-[a-z0-9]+)+$`)

// Every mutant has a unique, well-formed id naming its file, one line of
// description, one function, and a change that changes something.
func TestCorpusWellFormed(t *testing.T) {
	prefix := map[string]string{transitionC: "tr-", patchC: "pa-", coreC: "co-"}
	seen := map[string]bool{}
	for _, m := range Corpus() {
		if seen[m.ID] {
			t.Errorf("%s: id not unique", m.ID)
		}
		seen[m.ID] = true
		if !idRE.MatchString(m.ID) || !strings.HasPrefix(m.ID, prefix[m.File]) {
			t.Errorf("%s: id not like %s<what>-<how> for %s", m.ID, prefix[m.File], m.File)
		}
		if m.Desc == "" || strings.ContainsAny(m.Desc, "\n\r|") {
			t.Errorf("%s: description %q: want one line, no |", m.ID, m.Desc)
		}
		if m.Func == "" || strings.ContainsAny(m.Func, " ()") {
			t.Errorf("%s: function %q: want a bare C name", m.ID, m.Func)
		}
		if m.Old == "" || m.Old == m.New {
			t.Errorf("%s: old %q, new %q: the change must change something", m.ID, m.Old, m.New)
		}
		for _, pair := range []string{"()", "{}", "[]"} {
			depth := func(s string) int { return strings.Count(s, pair[:1]) - strings.Count(s, pair[1:]) }
			if depth(m.Old) != depth(m.New) {
				t.Errorf("%s: the change unbalances %s: the mutant would not build", m.ID, pair)
			}
		}
		for arch, why := range m.Equivalent {
			if (arch != "x86_64" && arch != "arm64") || why == "" || strings.Contains(why, "\n") {
				t.Errorf("%s: equivalent on %q because %q: want a known arch and a one-line reason", m.ID, arch, why)
			}
		}
	}
	if n := len(seen); n < 30 {
		t.Errorf("%d mutants; the corpus needs at least 30", n)
	}
}

// Every function of transition.c has a mutant: a function with none is a
// part of the consistency model the score says nothing about.
func TestCorpusCoversTransition(t *testing.T) {
	have := map[string]bool{}
	for _, m := range Corpus() {
		if m.File == transitionC {
			have[m.Func] = true
		}
	}
	for _, f := range []string{
		"klp_synchronize_transition", "klp_complete_transition", "klp_cancel_transition",
		"klp_update_patch_state", "klp_check_stack_func", "klp_check_stack",
		"klp_check_and_switch_task", "klp_try_switch_task", "__klp_sched_try_switch",
		"klp_send_signals", "klp_try_complete_transition", "klp_start_transition",
		"klp_init_transition", "klp_reverse_transition", "klp_copy_process", "klp_force_transition",
	} {
		if !have[f] {
			t.Errorf("no mutant in transition.c's %s", f)
		}
	}
}

// On the kernel tree, every mutant's old text occurs exactly once, in the
// function the mutant names, and it applies. Run against the tree: a
// corpus that does not apply measures nothing.
func TestCorpusAppliesToTree(t *testing.T) {
	src := os.Getenv("KLPTEST_MUTANTS_SRC")
	if src == "" {
		src = defaultSrc
	}
	if _, err := os.Stat(filepath.Join(src, transitionC)); err != nil {
		t.Skipf("no linux-source 7.2 tree at %s (set KLPTEST_MUTANTS_SRC to one): %v", src, err)
	}
	files := map[string]string{}
	for _, m := range Corpus() {
		text, ok := files[m.File]
		if !ok {
			b, err := os.ReadFile(filepath.Join(src, m.File))
			if err != nil {
				t.Fatal(err)
			}
			text = string(b)
			files[m.File] = text
		}
		out, err := Apply([]byte(text), m)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if got := enclosingFunc(text, strings.Index(text, m.Old)); got != m.Func {
			t.Errorf("%s: the change sits in %s, the mutant says %s", m.ID, got, m.Func)
		}
		if strings.Count(string(out), m.New) < 1 {
			t.Errorf("%s: the mutated file lacks the new text", m.ID)
		}
	}
}

// funcDefRE is a C function definition's first line, as the kernel
// writes them: at the start of a line, its name before "(".
var funcDefRE = regexp.MustCompile(`(?m)^(?:static |void |int |bool |ssize_t |struct [a-z_]+ \*?|unsigned |notrace |inline )+\**([A-Za-z_][A-Za-z0-9_]*)\(`)

// enclosingFunc names the function whose definition last began before
// offset i of a C file.
func enclosingFunc(text string, i int) string {
	name := ""
	for _, loc := range funcDefRE.FindAllStringSubmatchIndex(text[:i], -1) {
		name = text[loc[2]:loc[3]]
	}
	return name
}
