package main

import (
	"strings"
	"testing"
)

// verdictBlocks returns the verdicts in a run's output whose first line
// begins with prefix, each with its indented lines.
func verdictBlocks(out, prefix string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, prefix):
			in = true
		case !strings.HasPrefix(l, " "):
			in = false
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// The e2e suite quotes a run's failed verdicts from its output: each FAIL
// line with its indented lines, and nothing of the passes between.
func TestVerdictBlocks(t *testing.T) {
	out := "# kernel debian:6.1\n" +
		"PASS patch (debian:6.1 6.1.0-57-amd64, x86_64)\n    counts: tries-max 1\n" +
		"FAIL kthread (debian:6.1 6.1.0-57-amd64, x86_64)\n    counts: tries-max 17\n    [fallback] K[99]: woken early\n" +
		"SKIP sched-switch (debian:6.1 6.1.0-57-amd64, x86_64)\n    the kernel has no __klp_sched_try_switch()\n" +
		"FAIL signal (debian:6.1 6.1.0-57-amd64, x86_64)\n    [could-not-test] B: not tested\n"
	want := "FAIL kthread (debian:6.1 6.1.0-57-amd64, x86_64)\n    counts: tries-max 17\n    [fallback] K[99]: woken early\n" +
		"FAIL signal (debian:6.1 6.1.0-57-amd64, x86_64)\n    [could-not-test] B: not tested\n"
	if got := verdictBlocks(out, "FAIL "); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := verdictBlocks("PASS patch (x)\n    counts: tries-max 1\n", "FAIL "); got != "" {
		t.Errorf("a run without failures: got %q", got)
	}
}
