package bisect

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repo makes a git repository of n commits; commit i (1-based) writes
// state=i to a file, so a test can tell which commit is checked out.
func repo(t *testing.T, n int) (dir string, commits []string) {
	t.Helper()
	dir = t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	for i := 1; i <= n; i++ {
		os.WriteFile(filepath.Join(dir, "state"), []byte(strings.Repeat("x", i)), 0o644)
		git("add", "state")
		git("commit", "-q", "-m", "commit "+strings.Repeat("x", i))
		commits = append(commits, git("rev-parse", "HEAD"))
	}
	return dir, commits
}

// stateTest calls a commit bad from commit badFrom on, and skips the
// commits in skip.
func stateTest(dir string, badFrom int, skip map[int]bool, seen *[]int) Test {
	return func(ctx context.Context, commit string) Outcome {
		b, _ := os.ReadFile(filepath.Join(dir, "state"))
		i := len(b)
		*seen = append(*seen, i)
		switch {
		case skip[i]:
			return Outcome{Verdict: Skip, Detail: "build failed"}
		case i >= badFrom:
			return Outcome{Verdict: Bad, Detail: "[pending-flag] planted at " + string(rune('0'+i))}
		}
		return Outcome{Verdict: Good}
	}
}

func TestRunFindsFirstBad(t *testing.T) {
	tests := []struct {
		name     string
		n, bad   int
		skip     map[int]bool
		wantCand int // candidates expected instead of a first bad commit
	}{
		{name: "middle", n: 9, bad: 6},
		{name: "right after good", n: 9, bad: 2},
		{name: "the bad end itself", n: 9, bad: 9},
		{name: "skips around it", n: 9, bad: 6, skip: map[int]bool{4: true, 7: true}},
		{name: "skipped neighbour hides it", n: 9, bad: 6, skip: map[int]bool{5: true}, wantCand: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, commits := repo(t, tt.n)
			var seen []int
			res, err := Run(context.Background(), Options{Repo: dir, Good: commits[0], Bad: "main", Test: stateTest(dir, tt.bad, tt.skip, &seen)})
			if err != nil {
				t.Fatalf("Run: %v (steps %v)", err, seen)
			}
			if seen[0] != tt.n || seen[1] != 1 {
				t.Errorf("tested %v: want the bad end, then the good end first", seen)
			}
			if tt.wantCand > 0 {
				if res.FirstBad != "" || len(res.Candidates) != tt.wantCand {
					t.Errorf("first bad %q, candidates %v; want %d candidates", res.FirstBad, res.Candidates, tt.wantCand)
				}
			} else {
				if res.FirstBad != commits[tt.bad-1] {
					t.Errorf("first bad = %s, want commit %d (%s); tested %v", res.FirstBad, tt.bad, commits[tt.bad-1], seen)
				}
				if !strings.Contains(res.Detail, "[pending-flag]") {
					t.Errorf("detail %q: want the violation that marked it", res.Detail)
				}
			}
			assertRestored(t, dir, "main")
		})
	}
}

func assertRestored(t *testing.T, dir, branch string) {
	t.Helper()
	out, _ := exec.Command("git", "-C", dir, "symbolic-ref", "--short", "HEAD").Output()
	if strings.TrimSpace(string(out)) != branch {
		t.Errorf("HEAD is %q after bisect, want branch %s", out, branch)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "BISECT_START")); err == nil {
		t.Errorf("bisect not reset")
	}
}

func TestRunRefuses(t *testing.T) {
	dir, commits := repo(t, 5)
	var seen []int
	ctx := context.Background()
	var in *InputError
	var ends *EndsError

	// A dirty tree.
	os.WriteFile(filepath.Join(dir, "state"), []byte("dirty"), 0o644)
	_, err := Run(ctx, Options{Repo: dir, Good: commits[0], Bad: commits[4], Test: stateTest(dir, 3, nil, &seen)})
	if !errors.As(err, &in) || !strings.Contains(err.Error(), "uncommitted changes") || !strings.Contains(err.Error(), "git stash") {
		t.Errorf("dirty tree: %v", err)
	}
	exec.Command("git", "-C", dir, "checkout", "-q", "state").Run()

	for _, tt := range []struct {
		name, good, bad string
		badFrom         int
		skip            map[int]bool
		want            string
		wantEnds        bool
	}{
		{"unknown rev", "nosuch", commits[4], 3, nil, "--good nosuch: no such commit", false},
		{"reversed ends", commits[4], commits[0], 3, nil, "is not an ancestor", false},
		{"bad end passes", commits[0], commits[4], 9, nil, "the bad end " + commits[4] + " passes", true},
		{"good end fails", commits[0], commits[4], 1, nil, "the good end " + commits[0] + " fails", true},
		{"bad end untestable", commits[0], commits[4], 3, map[int]bool{5: true}, "cannot be tested (build failed)", true},
	} {
		seen = nil
		_, err := Run(ctx, Options{Repo: dir, Good: tt.good, Bad: tt.bad, Test: stateTest(dir, tt.badFrom, tt.skip, &seen)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if tt.wantEnds != errors.As(err, &ends) {
			t.Errorf("%s: %T, EndsError wanted: %v", tt.name, err, tt.wantEnds)
		}
		assertRestored(t, dir, "main")
	}

	if _, err := Run(ctx, Options{Repo: t.TempDir(), Good: "a", Bad: "b"}); !errors.As(err, &in) || !strings.Contains(err.Error(), "not a git repository") {
		t.Errorf("not a repo: %v", err)
	}
}
