package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klptest/klptest/internal/gzfile"
)

// Every subcommand refuses an unknown flag and an argument it does not
// take with its usage, and an output path it could not write before any
// work: no kernel is fetched, no QEMU started. Every row names a kernel,
// kernels file or tree that fails fast, with another message or exit, if
// a check let it through: a broken check fails the test, never boots.
func TestRefusedBeforeWork(t *testing.T) {
	dir := t.TempDir()
	missing := "/nonexistent/dir/x.json"
	recorded := "../../report/testdata/run-fork-storm-debian-6.1.json.gz"
	// report reads a plain document.
	plain := filepath.Join(dir, "run.json")
	writeRecorded(t, recorded, plain)
	bisect := []string{"bisect", "--src", "/nonexistent", "--good", "a", "--bad", "b"}
	// A file where --out wants a directory.
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// An arm64 mutants report, to resume on another arch.
	arm64Report := filepath.Join(dir, "mutants-arm64.json")
	if err := os.WriteFile(arm64Report, []byte(`{"version":1,"src":"/t","arch":"arm64","baseline":{"outcome":"survived"},"mutants":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const usage = "Usage of klptest"
	tests := []struct {
		args []string
		want []string // in stderr
	}{
		{[]string{"run", "--kernel", "tree:/nonexistent", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " run"}},
		{[]string{"run", "--kernel", "tree:/nonexistent", "extra"}, []string{`unexpected argument "extra"`, usage + " run"}},
		{[]string{"run", "--kernel", "tree:/nonexistent", "--json", missing}, []string{"klptest run: --json " + missing + ": directory /nonexistent/dir does not exist"}},
		{[]string{"run", "--kernel", "tree:/nonexistent", "--html", "/nonexistent/r.html"}, []string{"--html /nonexistent/r.html: directory /nonexistent does not exist"}},
		{[]string{"run", "--kernel", "tree:/nonexistent", "--junit", dir}, []string{"--junit " + dir + ": is a directory; give a file name, e.g. " + filepath.Join(dir, "klptest.xml")}},
		{[]string{"run", "--kernel", "tree:/nonexistent", "--json", dir}, []string{"--json " + dir + ": is a directory"}},
		{[]string{"run", "--kernel", "tree:/nonexistent", "--vmcore", "--out", file}, []string{"--out " + file + ": is a file; give a directory"}},
		{[]string{"run", "--kernel", "tree:/nonexistent", "--out", filepath.Join(file, "sub")}, []string{"--out " + filepath.Join(file, "sub") + ": " + file + " is not a directory"}},

		{[]string{"matrix", "/nonexistent/kernels.yaml", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " matrix"}},
		{[]string{"matrix", "a.yaml", "b.yaml"}, []string{`unexpected argument "b.yaml"`, usage + " matrix"}},
		{[]string{"matrix", "/nonexistent/kernels.yaml", "--json", missing}, []string{"klptest matrix: --json " + missing + ": directory /nonexistent/dir does not exist"}},
		{[]string{"matrix", "/nonexistent/kernels.yaml", "--html", dir}, []string{"klptest matrix: --html " + dir + ": is a directory"}},
		{[]string{"matrix", "/nonexistent/kernels.yaml", "--out", file}, []string{"klptest matrix: --out " + file + ": is a file"}},

		{[]string{"bench", "--kernel", "fedora:40", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " bench"}},
		{[]string{"bench", "--from", "x.json", "extra"}, []string{`unexpected argument "extra"`, usage + " bench"}},
		{[]string{"bench", "--kernel", "fedora:40", "--json", missing}, []string{"klptest bench: --json " + missing + ": directory /nonexistent/dir does not exist"}},
		{[]string{"bench", "--kernel", "fedora:40", "--json", dir}, []string{"klptest bench: --json " + dir + ": is a directory"}},

		{[]string{"bisect", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " bisect"}},
		{append(bisect, "extra"), []string{`unexpected argument "extra"`, usage + " bisect"}},
		{append(bisect, "--json", missing), []string{"klptest bisect: --json " + missing + ": directory /nonexistent/dir does not exist"}},
		{append(bisect, "--json", dir), []string{"klptest bisect: --json " + dir + ": is a directory"}},

		{[]string{"report", plain, "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " report"}},
		{[]string{"report", plain, "extra", "--ktap"}, []string{`unexpected argument "extra"`, usage + " report"}},
		{[]string{"report", plain, "--html", "/nonexistent/r.html"}, []string{"klptest report: --html /nonexistent/r.html: directory /nonexistent does not exist"}},
		{[]string{"report", plain, "--junit", dir}, []string{"klptest report: --junit " + dir + ": is a directory"}},

		{[]string{"kernel", "info", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " kernel info"}},
		{[]string{"kernel", "info", "tree:/nonexistent", "extra"}, []string{`unexpected argument "extra"`, usage + " kernel info"}},

		{[]string{"cache", "ls", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " cache ls"}},
		{[]string{"cache", "ls", "extra"}, []string{`unexpected argument "extra"`, usage + " cache ls"}},

		{[]string{"shell", "--kernel", "tree:/nonexistent", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " shell"}},
		{[]string{"shell", "--kernel", "tree:/nonexistent", "extra"}, []string{`unexpected argument "extra"`, usage + " shell"}},
		{[]string{"shell", "--kernel", "tree:/nonexistent", "--out", file}, []string{"klptest shell: --out " + file + ": is a file"}},
		{[]string{"shell", "--kernel", "tree:/nonexistent", "--out", filepath.Join(file, "sub")}, []string{"klptest shell: --out " + filepath.Join(file, "sub") + ": " + file + " is not a directory"}},

		{[]string{"mutants", "--src", "/nonexistent", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " mutants"}},
		{[]string{"mutants", "--src", "/nonexistent", "extra"}, []string{`unexpected argument "extra"`, usage + " mutants"}},
		{[]string{"mutants", "--src", "/nonexistent", "--json", missing}, []string{"klptest mutants: --json " + missing + ": directory /nonexistent/dir does not exist"}},
		{[]string{"mutants", "--src", "/nonexistent", "--md", dir}, []string{"klptest mutants: --md " + dir + ": is a directory"}},
		{[]string{"mutants", "--src", "/nonexistent", "--only", "tr-no-such"}, []string{`klptest mutants: unknown mutant "tr-no-such"`}},
		{[]string{"mutants", "--src", "/nonexistent", "--case", "no-such-case"}, []string{"klptest mutants: "}},
		{[]string{"mutants", "--src", "/nonexistent", "--arch", "mips"}, []string{"klptest mutants: --arch: "}},
		{[]string{"mutants", "--md", "x.md"}, []string{"klptest mutants: --src is required"}},
		{[]string{"mutants", "--src", "/nonexistent", "--resume", missing}, []string{"klptest mutants: --resume " + missing + ": open " + missing + ": no such file or directory"}},
		{[]string{"mutants", "--src", "/nonexistent", "--resume", plain}, []string{"klptest mutants: --resume " + plain + ": not a klptest mutants --json report of version 1"}},
		{[]string{"mutants", "--src", "/nonexistent", "--resume", arm64Report}, []string{"klptest mutants: --resume " + arm64Report + ": it ran on arm64, not x86_64: give --arch arm64, or run without --resume"}},

		{[]string{"list", "--bogus"}, []string{"flag provided but not defined: -bogus", usage + " list"}},
		{[]string{"list", "extra"}, []string{`unexpected argument "extra"`, usage + " list"}},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(tt.args, &out, &errb)
		for _, w := range tt.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("klptest %v: stderr %q; want %q", tt.args, errb.String(), w)
			}
		}
		if code != exitUsage {
			t.Errorf("klptest %v: exit %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(tt.want[0], "flag provided") && !strings.Contains(tt.want[0], "unexpected") &&
			strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("klptest %v: stderr %q; want one line", tt.args, errb.String())
		}
		if out.Len() != 0 {
			t.Errorf("klptest %v printed %q on stdout", tt.args, out.String())
		}
	}
}

// writeRecorded writes the recorded gzipped run document at src, plain, to
// dst.
func writeRecorded(t *testing.T, src, dst string) {
	t.Helper()
	b, err := gzfile.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A report that cannot be written at the end is an error exit, never 0,
// and leaves no half file under its name.
func TestReportWriteFails(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "run.json")
	writeRecorded(t, "../../report/testdata/run-fork-storm-debian-6.1.json.gz", plain)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(out, "r.html")
	// The dir goes between the check and the write.
	var stdout, stderr bytes.Buffer
	rf := reportFlags{html: html}
	if err := checkOutputs(rf.outputs()...); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(out)
	if rf.write(&stderr, "t", nil, nil) {
		t.Errorf("write into a dir that went: ok")
	}
	if !strings.Contains(stderr.String(), "klptest: write --html: ") {
		t.Errorf("stderr %q; want what could not be written", stderr.String())
	}
	for code, want := range map[int]int{exitPass: exitInfra, exitFail: exitFail, exitInfra: exitInfra, exitSIGINT: exitSIGINT} {
		if got := unwritten(code); got != want {
			t.Errorf("unwritten(%d) = %d, want %d", code, got, want)
		}
	}
	// And the whole command: it passes its checks, renders, writes.
	stdout.Reset()
	stderr.Reset()
	if code := Main([]string{"report", plain, "--html", filepath.Join(dir, "r.html")}, &stdout, &stderr); code != exitPass {
		t.Fatalf("report: exit %d, stderr %q", code, stderr.String())
	}
	es, _ := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "r.html run.json" {
		t.Errorf("dir holds %v; want r.html beside run.json, no temp file", names)
	}
}
