// Package report owns the result formats kernel CI reads: JUnit XML (one
// testsuite per cell, one testcase per case) and KTAP (as KernelCI and LKFT
// parse it). Both are written from the runs' results alone, the one data
// model; nothing here reads a console log or does other I/O.
package report

import (
	"encoding/xml"
	"fmt"
	"sort"
	"strings"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/runner"
	"github.com/klptest/klptest/wire"
)

// Cell is one labelled run: a matrix cell, or the one run of klptest run.
type Cell struct {
	Name   string
	Result *runner.Result // nil if nothing ran
	Skip   string         // why it could not test, if it could not
	Cases  []string       // the cases asked for; empty = all
}

// LabelKernelWarning labels a known kernel bug the kernel's config walks
// into (kernels.Spec.Warnings), once per warning.
const LabelKernelWarning = "kernel.warning"

// Labels are what every result is labelled with.
func (c Cell) Labels() [][2]string {
	r := c.Result
	if r == nil {
		return nil
	}
	var l [][2]string
	if r.Kernel != nil {
		l = append(l, [2]string{"kernel", r.Kernel.Name}, [2]string{"kernel.release", r.Kernel.Release})
		if r.Kernel.Version != r.Kernel.Release {
			l = append(l, [2]string{"kernel.version", r.Kernel.Version})
		}
		for _, w := range r.Kernel.Warnings {
			l = append(l, [2]string{LabelKernelWarning, w})
		}
	}
	l = append(l, [2]string{"arch", r.Arch}, [2]string{"accel", r.Accel}, [2]string{"qemu", r.QEMU}, [2]string{"klptest", r.Klptest})
	return l
}

// Outcome is one case of a cell.
type Outcome struct {
	Case       string
	Status     string   // "pass", "fail", "skip"
	Rules      []string // the rules broken, sorted, once each
	Violations []string
	Excerpt    []string // kernel log around the first violation
	Why        string   // skip: why the cell could not test
	// Subtests are a kernel selftest script's own tests.
	Subtests []wire.KselftestTest
}

// Outcomes are the cell's cases, in order, each passed, failed or skipped.
func (c Cell) Outcomes() []Outcome {
	names := c.Cases
	if len(names) == 0 && c.Result != nil {
		names = c.Result.Cases
	}
	if len(names) == 0 {
		for _, x := range cases.All() {
			names = append(names, x.Name)
		}
	}
	got := map[string]runner.Verdict{}
	if c.Result != nil {
		for _, v := range c.Result.Verdicts {
			got[v.Case] = v
		}
	}
	var out []Outcome
	for _, n := range names {
		v, ok := got[n]
		o := Outcome{Case: n}
		switch {
		case ok && v.Pass && v.Skip != "":
			o.Status = "skip"
			o.Why = v.Skip
		case ok && v.Pass:
			o.Status = "pass"
		case ok:
			o.Status = "fail"
			for _, x := range v.Violations {
				o.Violations = append(o.Violations, x.String())
			}
			o.Rules = Rules(v)
			o.Excerpt = excerpt(c.Result, n, v)
		default:
			o.Status = "skip"
			o.Why = c.Skip
			if o.Why == "" {
				o.Why = "did not run"
			}
		}
		if c.Result != nil && ok {
			o.Subtests = kselftestTests(c.Result, n)
		}
		out = append(out, o)
	}
	return out
}

// kselftestTests are the tests the named kernel selftest case's script
// reported, if it is one.
func kselftestTests(r *runner.Result, name string) []wire.KselftestTest {
	for _, b := range r.Boots {
		if b.Trace == nil {
			continue
		}
		for _, ct := range b.Trace.Cases {
			if ct.Name == name && ct.Kselftest != nil {
				return ct.Kselftest.Tests()
			}
		}
	}
	return nil
}

// Rules are the rules a verdict's violations broke, sorted, once each.
func Rules(v runner.Verdict) []string {
	seen := map[string]bool{}
	var rs []string
	for _, x := range v.Violations {
		if r := string(x.Rule); !seen[r] {
			seen[r] = true
			rs = append(rs, r)
		}
	}
	sort.Strings(rs)
	return rs
}

// excerptWindow is how much kernel log around the first violation goes with
// a failure: the lines 3 s before it to 3 s after.
const excerptWindow = 3_000_000 // µs

// excerpt is the case's kernel log around its first violation in time (or
// its last lines when no violation is tied to a moment).
func excerpt(r *runner.Result, name string, v runner.Verdict) []string {
	var lines []wire.KmsgLine
	for _, b := range r.Boots {
		if b.Trace == nil {
			continue
		}
		for _, l := range b.Trace.Kmsg {
			if l.Case == name || l.Case == "" {
				lines = append(lines, l)
			}
		}
	}
	var first int64
	for _, x := range v.Violations {
		if x.T > 0 && (first == 0 || x.T < first) {
			first = x.T
		}
	}
	var out []string
	for _, l := range lines {
		if first == 0 || (int64(l.TS) >= first/1000-excerptWindow && int64(l.TS) <= first/1000+excerptWindow) {
			out = append(out, fmt.Sprintf("[%5d.%06d] %s", l.TS/1_000_000, l.TS%1_000_000, l.Msg))
		}
	}
	if first == 0 && len(out) > 40 {
		out = out[len(out)-40:]
	}
	return out
}

// JUnit types, as the common JUnit XML schema has them.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties *junitProps     `xml:"properties,omitempty"`
	Cases      []junitTestCase `xml:"testcase"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitText    `xml:"skipped,omitempty"` // the schema's order: skipped, failure
	Failure   *junitMessage `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// junitText: the schema's skipped is plain text, no attributes.
type junitText struct {
	Body string `xml:",chardata"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// JUnit writes the cells as JUnit XML: a testsuite per cell, labelled with
// properties, a testcase per case; a failure's message is its first
// violation and its body all of them; system-out holds the kernel log
// around the first violation.
func JUnit(cells []Cell) ([]byte, error) {
	all := junitSuites{Name: "klptest"}
	for _, c := range cells {
		s := junitSuite{Name: c.Name, Time: "0"}
		if c.Result != nil {
			var total float64
			for _, d := range c.Result.Phases {
				total += d.Seconds()
			}
			s.Time = fmt.Sprintf("%.3f", total)
		}
		if l := c.Labels(); len(l) > 0 {
			s.Properties = &junitProps{}
			for _, p := range l {
				s.Properties.Props = append(s.Properties.Props, junitProp{Name: p[0], Value: p[1]})
			}
		}
		for _, o := range c.Outcomes() {
			tc := junitTestCase{Name: o.Case, ClassName: "klptest." + c.Name, Time: "0"}
			switch o.Status {
			case "fail":
				s.Failures++
				tc.Failure = &junitMessage{Message: o.Violations[0], Type: "violation", Body: strings.Join(o.Violations, "\n")}
				tc.SystemOut = strings.Join(o.Excerpt, "\n")
			case "skip":
				s.Skipped++
				tc.Skipped = &junitText{Body: FirstLine(o.Why)}
			}
			s.Tests++
			s.Cases = append(s.Cases, tc)
		}
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Suites = append(all.Suites, s)
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// KTAP writes the cells as KTAP version 1: one test per cell, its cases as
// subtests, a failure's violations as diagnostic lines, and a cell that
// could not test as skipped.
func KTAP(cells []Cell) string {
	var b strings.Builder
	b.WriteString("KTAP version 1\n")
	fmt.Fprintf(&b, "1..%d\n", len(cells))
	for i, c := range cells {
		fmt.Fprintf(&b, "    KTAP version 1\n    # Subtest: %s\n", ktapName(c.Name))
		for _, l := range c.Labels() {
			fmt.Fprintf(&b, "    # %s: %s\n", l[0], l[1])
		}
		os := c.Outcomes()
		fmt.Fprintf(&b, "    1..%d\n", len(os))
		failed, passed := false, false
		for j, o := range os {
			if len(o.Subtests) > 0 {
				fmt.Fprintf(&b, "        KTAP version 1\n        # Subtest: %s\n        1..%d\n", ktapName(o.Case), len(o.Subtests))
				for k, st := range o.Subtests {
					fmt.Fprintf(&b, "        %s %d %s\n", map[bool]string{true: "ok", false: "not ok"}[st.OK], k+1, ktapName(st.Name))
				}
			}
			switch o.Status {
			case "pass":
				passed = true
				fmt.Fprintf(&b, "    ok %d %s\n", j+1, ktapName(o.Case))
			case "fail":
				failed = true
				for _, v := range o.Violations {
					for _, l := range strings.Split(v, "\n") {
						fmt.Fprintf(&b, "    # %s\n", l)
					}
				}
				fmt.Fprintf(&b, "    not ok %d %s\n", j+1, ktapName(o.Case))
			default:
				fmt.Fprintf(&b, "    ok %d %s # SKIP %s\n", j+1, ktapName(o.Case), ktapText(FirstLine(o.Why)))
			}
		}
		switch {
		case failed:
			fmt.Fprintf(&b, "not ok %d %s\n", i+1, ktapName(c.Name))
		case !passed:
			fmt.Fprintf(&b, "ok %d %s # SKIP %s\n", i+1, ktapName(c.Name), ktapText(FirstLine(c.Skip)))
		default:
			fmt.Fprintf(&b, "ok %d %s\n", i+1, ktapName(c.Name))
		}
	}
	return b.String()
}

// ktapName keeps a name to what KTAP parsers take: no spaces, no '#'.
func ktapName(s string) string {
	return strings.NewReplacer(" ", "_", "#", "_").Replace(s)
}

func ktapText(s string) string { return strings.ReplaceAll(s, "#", "") }

// FirstLine is s's first line, trimmed.
func FirstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
