package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/report"
)

// cmdReport renders the reports of a saved run (klptest run --json) again:
// the run's JSON document is all they need.
func cmdReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf reportFlags
	rf.register(fs, reportHelp{
		html:  "write the self-contained HTML report to this file",
		junit: "write JUnit XML to this file",
		ktap:  "print KTAP on stdout",
	})
	file, ok := parseWithArg(fs, args)
	if !ok {
		return exitUsage
	}
	if file == "" {
		fmt.Fprintln(stderr, "usage: klptest report RUN.json [--html FILE] [--junit FILE] [--ktap]  (RUN.json from klptest run --json)")
		return exitUsage
	}
	if rf.html == "" && rf.junit == "" && !rf.ktap {
		fmt.Fprintln(stderr, "klptest report: say what to write: --html FILE, --junit FILE or --ktap")
		return exitUsage
	}
	if !outputsOK("klptest report", stderr, rf.outputs()...) {
		return exitUsage
	}
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "klptest report: %v\n", err)
		return exitUsage
	}
	doc, err := document.DecodeRun(b)
	if err != nil {
		fmt.Fprintf(stderr, "klptest report: %s: %v\n", file, err)
		return exitUsage
	}
	name := file
	if r := doc.Result; r != nil && r.Kernel != nil {
		name = strings.ReplaceAll(r.Kernel.Name, ":", "-") + "-" + r.Arch
	}
	cell := report.Cell{Name: name, Result: doc.Result, Skip: doc.Error}
	code := exitPass
	if !rf.write(stderr, "klptest run "+name, []report.Cell{cell}, nil) {
		code = exitInfra
	}
	if rf.ktap {
		fmt.Fprint(stdout, report.KTAP([]report.Cell{cell}))
	}
	return code
}
