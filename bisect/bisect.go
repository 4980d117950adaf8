// Package bisect owns driving a git bisection of a kernel source tree: it
// refuses a dirty tree, confirms that the good end passes and the bad end
// fails, feeds git bisect one verdict per commit from the caller's test,
// and always leaves the repository as it found it (git bisect reset).
//
// It knows nothing of kernels or QEMU: the test is a function.
package bisect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/klptest/klptest/pgroup"
)

// Verdict is what one commit's test found.
type Verdict int

const (
	Good Verdict = iota
	Bad
	Skip // the commit cannot be tested: build or boot failed
)

func (v Verdict) String() string {
	return [...]string{"good", "bad", "skip"}[v]
}

// Outcome is a test's verdict on one commit and why: for Bad, the violation
// that marked it; for Skip, what failed.
type Outcome struct {
	Verdict Verdict
	Detail  string
}

// Test tests the commit currently checked out.
type Test func(ctx context.Context, commit string) Outcome

// Step is one tested commit.
type Step struct {
	Commit   string        `json:"commit"`
	Subject  string        `json:"subject"`
	Verdict  string        `json:"verdict"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	End      string        `json:"end,omitempty"` // "good" or "bad" for the checks of the ends
}

// Result is a finished bisection.
type Result struct {
	FirstBad string `json:"first_bad,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Detail   string `json:"detail,omitempty"` // the violation that marked it
	// Candidates are the commits it could not tell apart, when skipped
	// commits left more than one.
	Candidates []string `json:"candidates,omitempty"`
	Steps      []Step   `json:"steps"`
}

// Options configure a bisection.
type Options struct {
	Repo      string
	Good, Bad string
	Test      Test
	Progress  func(format string, args ...any) // optional
}

// InputError is a bisection that cannot start: bad revisions, a dirty
// tree, a bisection already under way.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// EndsError: the good end fails, or the bad end passes, or either cannot be
// tested; there is nothing sound to bisect.
type EndsError struct {
	End  string // "good" or "bad"
	Rev  string
	Step Step
}

func (e *EndsError) Error() string {
	switch {
	case e.Step.Verdict == Skip.String():
		return fmt.Sprintf("the %s end %s cannot be tested (%s): nothing to bisect", e.End, e.Rev, e.Step.Detail)
	case e.End == "bad":
		return fmt.Sprintf("the bad end %s passes: nothing to bisect (an intermittent bug? try --repeat N)", e.Rev)
	}
	return fmt.Sprintf("the good end %s fails: %s; pick an older --good", e.Rev, e.Step.Detail)
}

// Run bisects. Results gathered before an error are returned with it.
func Run(ctx context.Context, o Options) (*Result, error) {
	g := gitRepo{dir: o.Repo}
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	if err := g.checkReady(ctx); err != nil {
		return nil, err
	}
	good, err := g.commit(ctx, o.Good, "--good")
	if err != nil {
		return nil, err
	}
	bad, err := g.commit(ctx, o.Bad, "--bad")
	if err != nil {
		return nil, err
	}
	if _, err := g.run(ctx, "merge-base", "--is-ancestor", good, bad); err != nil {
		return nil, &InputError{Msg: fmt.Sprintf("--good %s is not an ancestor of --bad %s: give an older good commit", o.Good, o.Bad)}
	}
	orig, err := g.head(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	started := false
	defer func() {
		// Leave the repository as found, whatever happened.
		rctx := context.WithoutCancel(ctx)
		if started {
			g.run(rctx, "bisect", "reset", orig)
		} else {
			g.run(rctx, "checkout", "-q", orig)
		}
	}()

	tested := map[string]Step{}
	test := func(commit, end string) (Step, error) {
		subject, _ := g.run(ctx, "log", "-1", "--format=%s", commit)
		progress("test %s %s%s", short(commit), subject, map[string]string{"": "", "good": " (the good end)", "bad": " (the bad end)"}[end])
		start := time.Now()
		out := o.Test(ctx, commit)
		st := Step{Commit: commit, Subject: subject, Verdict: out.Verdict.String(), Detail: out.Detail, Duration: time.Since(start), End: end}
		res.Steps = append(res.Steps, st)
		tested[commit] = st
		progress("%s is %s (%s)%s", short(commit), st.Verdict, st.Duration.Round(time.Second), detailSuffix(st.Detail))
		return st, ctx.Err()
	}
	// The ends first: a bisection between a passing bad end or a failing
	// good end would name an innocent commit.
	for _, end := range []struct{ name, rev, commit string }{{"bad", o.Bad, bad}, {"good", o.Good, good}} {
		if _, err := g.run(ctx, "checkout", "-q", "--detach", end.commit); err != nil {
			return res, err
		}
		st, err := test(end.commit, end.name)
		if err != nil {
			return res, err
		}
		if st.Verdict != end.name {
			return res, &EndsError{End: end.name, Rev: end.rev, Step: st}
		}
	}

	started = true
	out, err := g.run(ctx, "bisect", "start", bad, good)
	if err != nil {
		return res, err
	}
	for i := 0; ; i++ {
		if first, ok := firstBad(out); ok {
			res.FirstBad = first
			res.Subject, _ = g.run(ctx, "log", "-1", "--format=%s", first)
			res.Detail = tested[first].Detail
			return res, nil
		}
		if cands, ok := onlySkipped(out); ok {
			res.Candidates = cands
			return res, nil
		}
		if i > 64 {
			return res, fmt.Errorf("git bisect did not converge: %s", lastLine(out))
		}
		commit, err := g.run(ctx, "rev-parse", "HEAD")
		if err != nil {
			return res, err
		}
		st, err := test(commit, "")
		if err != nil {
			return res, err
		}
		// git bisect exits non-zero when only skipped commits are left.
		if out, err = g.run(ctx, "bisect", st.Verdict, commit); err != nil {
			if _, ok := onlySkipped(out); !ok {
				return res, err
			}
		}
	}
}

func detailSuffix(d string) string {
	if d == "" {
		return ""
	}
	return ": " + firstLine(d)
}

var firstBadRE = regexp.MustCompile(`(?m)^([0-9a-f]{40}) is the first bad commit`)

func firstBad(out string) (string, bool) {
	m := firstBadRE.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}

var hashLineRE = regexp.MustCompile(`(?m)^([0-9a-f]{40})\b`)

func onlySkipped(out string) ([]string, bool) {
	if !strings.Contains(out, "only 'skip'ped commits left to test") {
		return nil, false
	}
	var c []string
	for _, m := range hashLineRE.FindAllStringSubmatch(out, -1) {
		c = append(c, m[1])
	}
	return c, true
}

// gitRepo runs git in one repository.
type gitRepo struct{ dir string }

func (g gitRepo) run(ctx context.Context, args ...string) (string, error) {
	cmd := pgroup.Command(ctx, "git", append([]string{"-C", g.dir}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), fmt.Errorf("git %s: %s", strings.Join(args, " "), firstLine(stderr.String()+string(out)))
		}
		return string(out), fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// checkReady refuses what would make a bisection unsound or destructive.
func (g gitRepo) checkReady(ctx context.Context) error {
	if st, err := os.Stat(g.dir); err != nil || !st.IsDir() {
		return &InputError{Msg: fmt.Sprintf("--src %s: no such directory", g.dir)}
	}
	top, err := g.run(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return &InputError{Msg: fmt.Sprintf("--src %s is not a git repository: bisect needs the kernel's history (git clone it)", g.dir)}
	}
	if p, _ := g.run(ctx, "rev-parse", "--git-path", "BISECT_START"); p != "" {
		if !strings.HasPrefix(p, "/") {
			p = top + "/" + p
		}
		if _, err := os.Stat(p); err == nil {
			return &InputError{Msg: fmt.Sprintf("--src %s is in the middle of a git bisect: finish it or run git bisect reset first", g.dir)}
		}
	}
	status, err := g.run(ctx, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return err
	}
	if status != "" {
		lines := strings.Split(status, "\n")
		return &InputError{Msg: fmt.Sprintf("--src %s has uncommitted changes (%d files, first %s): bisect checks out other commits and would test them mixed with these; commit or stash them (git stash)",
			g.dir, len(lines), strings.TrimSpace(lines[0][2:]))}
	}
	return nil
}

func (g gitRepo) commit(ctx context.Context, rev, flag string) (string, error) {
	c, err := g.run(ctx, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil || c == "" {
		return "", &InputError{Msg: fmt.Sprintf("%s %s: no such commit in %s", flag, rev, g.dir)}
	}
	return c, nil
}

// head is what to return to: the branch checked out, or the commit.
func (g gitRepo) head(ctx context.Context) (string, error) {
	if b, err := g.run(ctx, "symbolic-ref", "-q", "--short", "HEAD"); err == nil && b != "" {
		return b, nil
	}
	return g.run(ctx, "rev-parse", "HEAD")
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
