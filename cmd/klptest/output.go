package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/report"
)

// reportFlags say where a command's results go: --json, --junit, --html,
// --ktap and --out, as run, matrix and report take them.
type reportFlags struct {
	json, junit, html, out string
	ktap                   bool
}

// reportHelp is each report flag's help; an empty one leaves the flag
// out.
type reportHelp struct{ json, junit, html, ktap, out string }

func (r *reportFlags) register(fs *flag.FlagSet, h reportHelp) {
	for _, f := range []struct {
		p          *string
		name, help string
	}{{&r.json, "json", h.json}, {&r.junit, "junit", h.junit}, {&r.html, "html", h.html}, {&r.out, "out", h.out}} {
		if f.help != "" {
			fs.StringVar(f.p, f.name, "", f.help)
		}
	}
	if h.ktap != "" {
		fs.BoolVar(&r.ktap, "ktap", false, h.ktap)
	}
}

// outputs are the paths the flags name.
func (r *reportFlags) outputs() []output {
	return []output{{"--json", r.json, false}, {"--junit", r.junit, false}, {"--html", r.html, false}, {"--out", r.out, true}}
}

// write writes the --json (with doc), --junit and --html files of cells,
// each aside and then renamed into place, and says on stderr what could
// not be written. ok is false if one could not.
func (r *reportFlags) write(stderr io.Writer, title string, cells []report.Cell, doc func(path string) error) (ok bool) {
	ok = true
	fail := func(flag string, err error) {
		if err != nil {
			fmt.Fprintf(stderr, "klptest: write %s: %v\n", flag, err)
			ok = false
		}
	}
	if r.json != "" && doc != nil {
		fail("--json", doc(r.json))
	}
	if r.junit != "" {
		fail("--junit", writeJUnit(r.junit, cells))
	}
	if r.html != "" {
		fail("--html", writeHTML(r.html, title, cells))
	}
	return ok
}

// output is a path a command will write: a file, or with dir a directory
// it makes if missing.
type output struct {
	flag, path string
	dir        bool
}

// checkOutputs says what is wrong with the first output that cannot be
// written, before the command does any work: a result that could not be
// written at its end would be lost.
func checkOutputs(outs ...output) error {
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		if err := o.check(); err != nil {
			return fmt.Errorf("%s %s: %w", o.flag, o.path, err)
		}
	}
	return nil
}

func (o output) check() error {
	st, err := os.Stat(o.path)
	if errors.Is(err, syscall.ENOTDIR) {
		err = fs.ErrNotExist // a file on the way: said below
	}
	switch {
	case err == nil && o.dir && !st.IsDir():
		return errors.New("is a file; give a directory (klptest makes it if it is missing)")
	case err == nil && o.dir:
		return writable(o.path, "")
	case err == nil && st.IsDir():
		return fmt.Errorf("is a directory; give a file name, e.g. %s", filepath.Join(o.path, "klptest"+defaultExt[o.flag]))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if !o.dir {
		return writable(filepath.Dir(o.path), "; create it, or give a path in one that does")
	}
	// A directory klptest makes: the nearest one that is there must take
	// it.
	for d := filepath.Dir(o.path); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			return writable(d, "")
		}
	}
}

// defaultExt names the example file of a flag given a directory.
var defaultExt = map[string]string{"--json": ".json", "--junit": ".xml", "--html": ".html"}

// writable says what stops klptest writing in dir.
func writable(dir, hint string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist%s", dir, hint)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case unix.Access(dir, unix.W_OK) != nil:
		return fmt.Errorf("directory %s is not writable by this user; give a path in one that is", dir)
	}
	return nil
}

// outputsOK checks outs and says what is wrong on stderr, for cmd.
func outputsOK(cmd string, stderr io.Writer, outs ...output) bool {
	if err := checkOutputs(outs...); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return false
	}
	return true
}

// unwritten is the exit status of a command whose results could not all
// be written: never a pass.
func unwritten(code int) int {
	if code == exitPass {
		return exitInfra
	}
	return code
}

func writeHTML(path, title string, cells []report.Cell) error {
	b, err := report.HTML(report.BuildHTMLReport(title, cells))
	if err != nil {
		return fmt.Errorf("HTML report: %w", err)
	}
	return document.WriteFile(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

func writeJUnit(path string, cells []report.Cell) error {
	b, err := report.JUnit(cells)
	if err != nil {
		return fmt.Errorf("JUnit: %w", err)
	}
	return document.WriteFile(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}
