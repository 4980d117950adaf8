package report

import "github.com/klptest/klptest/document"

// Tallies counts each case's outcomes over the runs, one cell per run, in
// the order the cases first appear.
func Tallies(runs []Cell) []document.Tally {
	var out []document.Tally
	idx := map[string]int{}
	for i, c := range runs {
		for _, o := range c.Outcomes() {
			j, ok := idx[o.Case]
			if !ok {
				j = len(out)
				idx[o.Case] = j
				out = append(out, document.Tally{Case: o.Case})
			}
			t := &out[j]
			switch o.Status {
			case "pass":
				t.Pass++
			case "fail":
				t.Fail++
				t.FailedRuns = append(t.FailedRuns, i+1)
			default:
				t.Skip++
				t.SkippedRuns = append(t.SkippedRuns, i+1)
			}
		}
	}
	return out
}
