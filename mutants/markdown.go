package mutants

import (
	"fmt"
	"path"
	"strings"
)

// Markdown is the report as a section of docs/mutants.md: what ran, the
// score, and one table row per mutant (ID, function, description,
// outcome, rules).
func Markdown(r *Report) []byte {
	var b strings.Builder
	kernel := r.Kernel
	if kernel == "" {
		kernel = "?"
	}
	fmt.Fprintf(&b, "## %s, %s, %s\n\n", kernel, r.Arch, r.Started.UTC().Format("2006-01-02"))
	cases := "every case"
	if len(r.Cases) > 0 {
		cases = strings.Join(r.Cases, ", ")
	}
	fmt.Fprintf(&b, "Tree %s; cases: %s", cell(r.Src), cell(cases))
	if r.Klptest != "" {
		fmt.Fprintf(&b, "; klptest %s", cell(r.Klptest))
	}
	b.WriteString(".\n\n")
	b.WriteString(scoreLine(r) + "\n\n")
	b.WriteString("| ID | function | description | outcome | rules |\n|---|---|---|---|---|\n")
	for _, o := range r.Mutants {
		outcome := string(o.Kind)
		if o.Kind != Killed && o.Detail != "" {
			outcome += ": " + cell(o.Detail)
		}
		var rules []string
		for _, n := range o.Rules {
			rules = append(rules, string(n))
		}
		fmt.Fprintf(&b, "| `%s` | `%s` (%s) | %s | %s | %s |\n", o.ID, o.Func, path.Base(o.File), cell(o.Desc), outcome, strings.Join(rules, ", "))
	}
	return []byte(b.String())
}

// scoreLine is the score in words: killed of those run, and the rest.
func scoreLine(r *Report) string {
	n := r.Score()
	run := len(r.Mutants) - n[Equivalent]
	return fmt.Sprintf("Killed by a named rule: %d of %d (crash-only %d, survived %d, could not test %d; equivalent on %s, not run: %d).",
		n[Killed], run, n[CrashOnly], n[Survived], n[CouldNotTest], r.Arch, n[Equivalent])
}

// cell makes s safe in a table cell: one line, no column break.
func cell(s string) string {
	s = strings.ReplaceAll(oneLine(s), "|", `\|`)
	return s
}
