package mutants

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klptest/klptest/rule"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// recorded is a report as a full run would make one, every kind of
// outcome in it.
func recorded() *Report {
	o := func(id string, c Classification) Outcome {
		for _, m := range Corpus() {
			if m.ID == id {
				return Outcome{ID: m.ID, File: m.File, Func: m.Func, Desc: m.Desc, Classification: c, Duration: 7 * time.Minute}
			}
		}
		panic("no mutant " + id)
	}
	return &Report{
		Version: 1, Src: "/home/me/linux-7.2", Arch: "x86_64", Kernel: "7.2.13", Klptest: "v0.9.0 (53abd7e)",
		Cases: []string{"patch", "chain", "fork-storm"}, Started: time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("CET", 3600)),
		Baseline: Classification{Kind: Survived},
		Mutants: []Outcome{
			o("tr-stack-func-skip", Classification{Kind: Killed, Rules: []rule.Name{rule.Consistent, rule.Parked}}),
			o("tr-running-task-switched", Classification{Kind: Killed, Rules: []rule.Name{rule.Chain}}),
			o("pa-handler-nop-ignored", Classification{Kind: CrashOnly, Rules: []rule.Name{rule.Trace}, Detail: "replace: [trace]: the VM ended during the case: the VM did not finish within 5m0s"}),
			o("tr-sync-skip", Classification{Kind: Survived}),
			o("co-coming-not-patched", Classification{Kind: CouldNotTest, Detail: "kernel: make: *** [kernel/livepatch/core.o] Error 1 | see the log"}),
			o("tr-try-switch-reliable-guard-skip", Classification{Kind: Equivalent, Detail: "klptest requires CONFIG_HAVE_RELIABLE_STACKTRACE"}),
		},
	}
}

func TestMarkdownGolden(t *testing.T) {
	got := Markdown(recorded())
	golden := filepath.Join("testdata", "table.md")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Markdown differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}
