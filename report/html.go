package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"

	"github.com/klptest/klptest/runner"
	"github.com/klptest/klptest/wire"
)

// The HTML report is one self-contained file: the page, its script and
// the timeline data inline, nothing fetched. The data is computed here
// (segments, aggregates); the script only draws it, on a canvas, so that a
// storm of thousands of tasks stays responsive.

//go:embed html/report.html
var htmlPage string

//go:embed html/report.js
var htmlScript string

// Colour codes of a task's patch state on the timeline.
const (
	codeUndefined        = iota // -1: no transition
	codeUnpatched               // 0, flag clear
	codeUnpatchedPending        // 0, TIF_PATCH_PENDING set
	codePatched                 // 1, flag clear
	codePatchedPending          // 1, pending
	codeUnknownPending          // state from /proc only: the flag unknown
	numCodes
)

// aggBuckets is the aggregate strip's resolution across time.
const aggBuckets = 400

// HTMLReport is the data of the HTML report, as the page's script reads it.
type HTMLReport struct {
	Title  string      `json:"title"`
	Labels [][2]string `json:"labels"`
	Skip   string      `json:"skip,omitempty"`
	Cases  []HTMLCase  `json:"cases"`
}

// HTMLCase is one case's timeline.
type HTMLCase struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"` // PASS, FAIL, or "" when not judged
	// T0 and T1 span the timeline, guest CLOCK_MONOTONIC ns; every other
	// time is microseconds from T0.
	T0 int64 `json:"t0"`
	T1 int64 `json:"t1"`
	// Groups: user tasks, kernel threads, idle tasks, drawn apart.
	Groups []HTMLGroup `json:"groups"`
	// Segments counts the coloured segments the script must draw.
	Segments int `json:"segments"`
	// Agg[code][bucket] counts the tasks in each state per time bucket.
	Agg        [][]int         `json:"agg"`
	Marks      []HTMLMark      `json:"marks"`
	Forks      [][3]int64      `json:"forks"` // [t, parent pid, child pid]
	ForksTotal int             `json:"forks_total"`
	Violations []HTMLViolation `json:"violations"`
	Kmsg       []HTMLKmsg      `json:"kmsg"`
	Forensics  []string        `json:"forensics,omitempty"` // rendered text
	// Output is a kernel selftest script's output (a kselftest case).
	Output *string `json:"output,omitempty"`
}

// HTMLGroup is a group of task rows.
type HTMLGroup struct {
	Name  string     `json:"name"`
	Tasks []HTMLTask `json:"tasks"`
}

// HTMLTask is one task's row: Segs holds [t, code] pairs flattened, each
// segment lasting until the next pair's t, the last until End.
type HTMLTask struct {
	PID  int     `json:"pid"`
	Name string  `json:"name"`
	Segs []int64 `json:"segs"`
	End  int64   `json:"end"`
}

// HTMLMark is a moment on the timeline: an op, the fake signal, a stall.
type HTMLMark struct {
	T     int64  `json:"t"`
	Kind  string `json:"kind"`
	Label string `json:"label"`
}

// HTMLViolation is a violation with its place on the timeline.
type HTMLViolation struct {
	Rule string `json:"rule"`
	Task string `json:"task,omitempty"`
	T    int64  `json:"t"` // -1: not tied to a moment
	Msg  string `json:"msg"`
}

// HTMLKmsg is a kernel log line; LP marks the livepatch lines.
type HTMLKmsg struct {
	TS  string `json:"ts"`
	Msg string `json:"msg"`
	LP  bool   `json:"lp,omitempty"`
}

// maxForks bounds the fork arrows drawn; the count says how many there were.
const maxForks = 5000

// BuildHTMLReport computes the report's data for the cells' cases.
func BuildHTMLReport(title string, cells []Cell) HTMLReport {
	r := HTMLReport{Title: title, Cases: []HTMLCase{}}
	for _, c := range cells {
		if len(cells) == 1 {
			r.Labels = c.Labels()
			r.Skip = c.Skip
		}
		if c.Result == nil {
			continue
		}
		verdicts := map[string]runner.Verdict{}
		for _, v := range c.Result.Verdicts {
			verdicts[v.Case] = v
		}
		for _, b := range c.Result.Boots {
			if b.Trace == nil {
				continue
			}
			for _, ct := range b.Trace.Cases {
				hc := buildCase(b.Trace, ct, verdicts[ct.Name])
				if len(cells) > 1 {
					hc.Name = c.Name + " / " + hc.Name
				}
				r.Cases = append(r.Cases, hc)
			}
		}
	}
	return r
}

func stateCode(t wire.TaskState) int64 {
	switch {
	case t.State == wire.StateUndefined:
		return codeUndefined
	case t.Pending == nil:
		return codeUnknownPending
	case t.State == wire.StateUnpatched && *t.Pending:
		return codeUnpatchedPending
	case t.State == wire.StateUnpatched:
		return codeUnpatched
	case *t.Pending:
		return codePatchedPending
	}
	return codePatched
}

func buildCase(tr *wire.Trace, ct *wire.CaseTrace, v runner.Verdict) HTMLCase {
	// Empty, not null, in the JSON: the script iterates them all.
	hc := HTMLCase{Name: ct.Name, Marks: []HTMLMark{}, Forks: [][3]int64{}, Violations: []HTMLViolation{}, Kmsg: []HTMLKmsg{}}
	if v.Case != "" {
		hc.Verdict = map[bool]string{true: "PASS", false: "FAIL"}[v.Pass]
		if v.Pass && v.Skip != "" {
			hc.Verdict = "SKIP"
		}
	}
	if ct.Kselftest != nil {
		hc.Output = &ct.Kselftest.Output
	}
	// The span: the case's start and end, widened to what it saw.
	hc.T0, hc.T1 = 1<<62, -1<<62
	widen := func(t int64) {
		if t <= 0 {
			return
		}
		hc.T0, hc.T1 = min(hc.T0, t), max(hc.T1, t)
	}
	if ct.Start != nil {
		widen(ct.Start.T)
	}
	if ct.End != nil {
		widen(ct.End.T)
	}
	for _, s := range ct.Snapshots {
		widen(s.T0)
		widen(s.T1)
	}
	for _, o := range ct.Ops {
		widen(o.T0)
	}
	if hc.T1 <= hc.T0 {
		hc.T0, hc.T1 = 0, 1
	}
	rel := func(t int64) int64 { return (t - hc.T0) / 1000 }
	spanUS := rel(hc.T1) + 1

	// Task rows from the snapshots, in time order; a run of equal codes
	// is one segment. The probe's snapshots carry the pending flag; when a
	// case has any, /proc's are left out, as they cannot tell it.
	snaps := append([]wire.Snapshot(nil), ct.Snapshots...)
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].T0 < snaps[j].T0 })
	hasProbe := false
	for _, s := range snaps {
		hasProbe = hasProbe || s.Source == wire.SourceProbe
	}
	type row struct {
		task  HTMLTask
		group int
		last  int64
		code  int64
		order int
	}
	rows := map[string]*row{}
	hc.Agg = make([][]int, numCodes)
	for i := range hc.Agg {
		hc.Agg[i] = make([]int, aggBuckets)
	}
	for _, s := range snaps {
		if hasProbe && s.Source != wire.SourceProbe {
			continue
		}
		t := rel((s.T0 + s.T1) / 2)
		bucket := int(t * aggBuckets / spanUS)
		for _, task := range s.Tasks {
			code := stateCode(task)
			r, ok := rows[task.Key()]
			if !ok {
				g := 0
				switch {
				case task.Idle:
					g = 2
				case task.Kthread:
					g = 1
				}
				r = &row{task: HTMLTask{PID: task.PID, Name: task.Name()}, group: g, code: -1, order: len(rows)}
				rows[task.Key()] = r
			}
			if code != r.code {
				r.task.Segs = append(r.task.Segs, t, code)
				r.code = code
				hc.Segments++
			}
			r.last = t
			if bucket >= 0 && bucket < aggBuckets {
				hc.Agg[code][bucket]++
			}
		}
	}
	// Average the aggregate over the snapshots in each bucket.
	perBucket := make([]int, aggBuckets)
	for _, s := range snaps {
		if hasProbe && s.Source != wire.SourceProbe {
			continue
		}
		if b := int(rel((s.T0+s.T1)/2) * aggBuckets / spanUS); b >= 0 && b < aggBuckets {
			perBucket[b]++
		}
	}
	// Buckets no snapshot fell in carry the last one's counts, up to the
	// last snapshot: sampling gaps are not empty moments.
	lastB := -1
	for b, n := range perBucket {
		if n > 0 {
			lastB = b
		}
	}
	for c := range hc.Agg {
		for b, n := range perBucket {
			switch {
			case n > 1:
				hc.Agg[c][b] /= n
			case n == 0 && b > 0 && b <= lastB:
				hc.Agg[c][b] = hc.Agg[c][b-1]
			}
		}
	}
	hc.Groups = []HTMLGroup{{Name: "user tasks", Tasks: []HTMLTask{}}, {Name: "kernel threads", Tasks: []HTMLTask{}}, {Name: "idle tasks", Tasks: []HTMLTask{}}}
	var all []*row
	for _, r := range rows {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].order < all[j].order })
	for _, r := range all {
		r.task.End = r.last
		hc.Groups[r.group].Tasks = append(hc.Groups[r.group].Tasks, r.task)
	}

	for _, o := range ct.Ops {
		if o.InProgress {
			continue
		}
		label := o.Kind
		switch o.Kind {
		case wire.OpEnable, wire.OpDisable, wire.OpReverse, wire.OpComplete, wire.OpTimeout:
			label = fmt.Sprintf("%s → goal %d", o.Kind, o.Goal)
		case wire.OpPark, wire.OpRelease:
			label = fmt.Sprintf("%s %s[%d]", o.Kind, o.Park, o.TID)
		}
		if o.Patch != "" {
			label += " (" + o.Patch + ")"
		}
		if o.Fault != "" {
			label += " (" + o.Fault + ")"
		}
		hc.Marks = append(hc.Marks, HTMLMark{T: rel(o.T0), Kind: o.Kind, Label: label})
	}
	for _, f := range ct.Forensics {
		hc.Marks = append(hc.Marks, HTMLMark{T: rel(f.T), Kind: "forensics", Label: "forensics: " + f.Reason})
		hc.Forensics = append(hc.Forensics, ForensicsText(tr, f, ""))
	}
	hc.ForksTotal = len(ct.Forks)
	for i, f := range ct.Forks {
		if i == maxForks {
			break
		}
		hc.Forks = append(hc.Forks, [3]int64{rel(f.T), int64(f.PPID), int64(f.CPID)})
	}
	for _, x := range v.Violations {
		t := int64(-1)
		if x.T != 0 {
			t = rel(x.T)
		}
		hc.Violations = append(hc.Violations, HTMLViolation{Rule: string(x.Rule), Task: x.Task, T: t, Msg: x.Text()})
	}
	for _, l := range tr.Kmsg {
		if l.Case != ct.Name {
			continue
		}
		lp := strings.Contains(l.Msg, "livepatch") || strings.Contains(l.Msg, "klpt")
		// The kernel's log clock and CLOCK_MONOTONIC both count from
		// boot; the mark is as good as their agreement (close in a VM).
		if strings.Contains(l.Msg, "signaling remaining tasks") {
			hc.Marks = append(hc.Marks, HTMLMark{T: rel(int64(l.TS) * 1000), Kind: "signal", Label: "fake signal (kernel log time)"})
		}
		hc.Kmsg = append(hc.Kmsg, HTMLKmsg{TS: fmt.Sprintf("%d.%06d", l.TS/1e6, l.TS%1e6), Msg: l.Msg, LP: lp})
	}
	sort.SliceStable(hc.Marks, func(i, j int) bool { return hc.Marks[i].T < hc.Marks[j].T })
	return hc
}

var htmlTmpl = template.Must(template.New("report").Delims("[[", "]]").Parse(htmlPage))

// HTML renders the report as one self-contained HTML file.
func HTML(r HTMLReport) ([]byte, error) {
	// json.Marshal escapes <, > and &: the data cannot close the script.
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = htmlTmpl.Execute(&b, map[string]string{"Data": string(data), "Script": htmlScript})
	return b.Bytes(), err
}
