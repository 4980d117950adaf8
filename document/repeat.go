package document

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/klptest/klptest/wire"
)

// RepeatSchema names the --json document of klptest run --repeat.
const RepeatSchema = "klptest/repeat"

// RepeatVersion is the repeat document's version: its runs' (RunVersion).
const RepeatVersion = RunVersion

// Repeat is --repeat's document: every run's document, and the tallies.
type Repeat struct {
	Schema  string  `json:"schema"`
	Version int     `json:"version"`
	Tallies []Tally `json:"tallies"`
	Runs    []Run   `json:"runs"`
}

// Tally is one case's outcomes over repeated runs (klptest run --repeat).
type Tally struct {
	Case string `json:"case"`
	Pass int    `json:"pass"`
	Fail int    `json:"fail"`
	Skip int    `json:"skip"` // the run could not test, or stopped first
	// FailedRuns and SkippedRuns are 1-based run numbers.
	FailedRuns  []int `json:"failed_runs,omitempty"`
	SkippedRuns []int `json:"skipped_runs,omitempty"`
}

func (t Tally) String() string {
	s := fmt.Sprintf("%s: %d/%d passed", t.Case, t.Pass, t.Pass+t.Fail+t.Skip)
	if t.Fail > 0 {
		s += fmt.Sprintf(", %d failed (runs %s)", t.Fail, ints(t.FailedRuns))
	}
	if t.Skip > 0 {
		s += fmt.Sprintf(", %d not tested (runs %s)", t.Skip, ints(t.SkippedRuns))
	}
	return s
}

func ints(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

// WriteRepeat writes the Repeat document of the runs whose documents are
// in runs, in run order, each a JSON value ending in a newline as
// EncodeRun writes it. It streams them: fifty runs of a suite are
// gigabytes of trace, more than memory holds. Each run takes a line.
func WriteRepeat(w io.Writer, t []Tally, runs []io.Reader) error {
	head, err := json.Marshal(Repeat{Schema: RepeatSchema, Version: RepeatVersion, Tallies: t})
	if err != nil {
		return err
	}
	// The head ends in "runs":null}; the runs go in its place.
	const tail = `null}`
	if !strings.HasSuffix(string(head), tail) {
		return fmt.Errorf("repeat document head %q does not end in the runs", head)
	}
	bw := bufio.NewWriter(w)
	bw.Write(head[:len(head)-len(tail)])
	bw.WriteString("[\n")
	for i, r := range runs {
		if i > 0 {
			bw.WriteString(",")
		}
		if _, err := io.Copy(bw, r); err != nil {
			return fmt.Errorf("run %d of %d: %w", i+1, len(runs), err)
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// DecodeRepeat reads a repeat document of any version this klptest knows.
func DecodeRepeat(b []byte) (*Repeat, error) {
	return decodeAs[Repeat](b, RepeatSchema, "klptest run --repeat N --json", wire.TraceVersion, false)
}
