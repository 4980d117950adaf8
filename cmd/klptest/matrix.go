package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/klptest/klptest/document"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/matrix"
	"github.com/klptest/klptest/progress"
	"github.com/klptest/klptest/report"
	"github.com/klptest/klptest/runner"
)

// cmdMatrix runs the cells of a kernels file, up to --jobs VMs at once.
func cmdMatrix(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("klptest matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jobs := fs.Int("jobs", 0, "VMs at once (default: what the cores and memory bear, 2 cores and 2 GiB a VM)")
	shard := fs.String("shard", "", "run shard I/N of the cells, e.g. 1/4")
	list := fs.Bool("list", false, "list the cells instead of running them")
	format := fs.String("format", "text", "--list format: text or github (a strategy.matrix for fromJSON)")
	var rf reportFlags
	rf.register(fs, reportHelp{
		json:  "write every cell's result to this file",
		junit: "write JUnit XML to this file: a testsuite per cell",
		html:  "write the self-contained HTML report of every cell to this file",
		ktap:  "print KTAP on stdout instead of the table",
		out:   "keep each cell's console logs and memory dumps in DIR/CELL",
	})
	var only multiFlag
	fs.Var(&only, "only", "run only this cell (repeatable)")
	file, ok := parseWithArg(fs, args)
	if !ok || !outputsOK("klptest matrix", stderr, rf.outputs()...) {
		return exitUsage
	}
	src := kernels.DefaultKernelsFile
	name := "the default kernels file (kernels/kernels.yaml)"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "klptest matrix: %v\n", err)
			return exitUsage
		}
		src, name = b, file
	}
	f, err := matrix.Parse(src)
	if err != nil {
		fmt.Fprintf(stderr, "klptest matrix: %s: %v\n", name, err)
		return exitUsage
	}
	cells, err := f.Select(only)
	if err != nil {
		fmt.Fprintf(stderr, "klptest matrix: %v\n", err)
		return exitUsage
	}
	if *shard != "" {
		i, n, err := matrix.ParseShard(*shard)
		if err != nil {
			fmt.Fprintf(stderr, "klptest matrix: %v\n", err)
			return exitUsage
		}
		cells = matrix.Shard(cells, i, n)
	}
	if *list {
		switch *format {
		case "github":
			b, _ := matrix.GitHub(cells)
			fmt.Fprintf(stdout, "%s\n", b)
		case "text":
			for _, c := range cells {
				fmt.Fprintf(stdout, "%-24s %-16s %s\n", c.Name, c.Kernel, c.Arch)
			}
		default:
			fmt.Fprintf(stderr, "klptest matrix: --format %q: want text or github\n", *format)
			return exitUsage
		}
		return exitPass
	}
	if len(cells) == 0 {
		fmt.Fprintln(stderr, "klptest matrix: this shard has no cells")
		return exitPass
	}
	n := *jobs
	if n <= 0 {
		n = defaultJobs()
	}

	// The cells' dirs hold guest memory dumps: this user's alone.
	runDirs := make([]string, len(cells))
	for i, c := range cells {
		if rf.out != "" {
			runDirs[i] = filepath.Join(rf.out, c.Name)
			if err := os.MkdirAll(runDirs[i], 0o700); err != nil {
				fmt.Fprintf(stderr, "klptest matrix: --out: %v\n", err)
				return exitInfra
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	pr := progress.New(stderr)
	say := pr.Step
	say("matrix", "start", fmt.Sprintf("%d cells, %d at once", len(cells), n))
	results := make([]*document.MatrixCell, len(cells))
	runner.Schedule{Jobs: n}.Run(ctx, len(cells), func(i int) (bool, error) {
		c := cells[i]
		results[i] = runCell(ctx, c, runDirs[i], func(step, detail string) { say(c.Name, step, detail) })
		return false, nil
	})
	pr.Close()
	for i, r := range results {
		if r == nil { // interrupted before it started
			results[i] = &document.MatrixCell{Cell: cells[i], Skip: "interrupted before the cell started"}
		}
	}
	var rcells []report.Cell
	for _, r := range results {
		rcells = append(rcells, report.Cell{Name: r.Cell.Name, Result: r.Result, Skip: r.Skip, Cases: r.Cell.Cases})
	}
	wrote := rf.write(stderr, "klptest matrix: "+name, rcells, func(path string) error {
		return document.WriteJSON(path, document.NewMatrix(results))
	})
	if rf.ktap {
		fmt.Fprint(stdout, report.KTAP(rcells))
	} else {
		printTable(stdout, rcells)
		fmt.Fprintf(stdout, "%d cells in %s\n", len(results), time.Since(start).Round(time.Second))
	}
	code := matrixExit(ctx, stderr, results)
	if !wrote {
		return unwritten(code)
	}
	return code
}

// matrixExit is klptest matrix's exit status: interrupted, a case failed,
// no cell could test, or passed.
func matrixExit(ctx context.Context, stderr io.Writer, results []*document.MatrixCell) int {
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "klptest: interrupted")
		return exitSIGINT
	}
	ran := false
	for _, r := range results {
		if r.Failed() {
			return exitFail
		}
		ran = ran || r.Skip == ""
	}
	if !ran {
		return exitInfra
	}
	return exitPass
}

// runCell runs one cell. A cell that cannot test is a skip, with the cause.
func runCell(ctx context.Context, c matrix.Cell, runDir string, progress func(step, detail string)) *document.MatrixCell {
	start := time.Now()
	res, err := runner.Run(ctx, runner.Options{
		Kernel: c.Kernel, Arch: c.Arch, Cases: c.Cases, Fragments: c.Fragments, Accel: c.Accel, Suite: c.Suite,
		RunDir: runDir, Progress: func(ev runner.Event) { progress(string(ev.Step), ev.Detail) },
	})
	cr := &document.MatrixCell{Cell: c, Result: res, Duration: time.Since(start)}
	if err != nil {
		cr.Skip = err.Error()
		progress("skip", report.FirstLine(err.Error()))
	}
	return cr
}

// printTable prints cell x case: PASS, FAIL with the rules broken, or SKIP
// with the cause.
func printTable(w io.Writer, cells []report.Cell) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tCASE\tVERDICT\tDETAIL")
	for _, c := range cells {
		for _, o := range c.Outcomes() {
			detail := strings.Join(o.Rules, ", ")
			if o.Status == "skip" {
				detail = report.FirstLine(o.Why)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, o.Case, strings.ToUpper(o.Status), detail)
		}
	}
	tw.Flush()
}

// defaultJobs is how many TCG VMs the host bears: about 2 cores and 2 GiB
// each (-smp 2), at least one.
func defaultJobs() int {
	n := runtime.NumCPU() / 2
	if mem := memTotalGiB(); mem > 0 && mem/2 < n {
		n = mem / 2
	}
	if n < 1 {
		n = 1
	}
	return n
}

func memTotalGiB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
			return kb >> 20
		}
	}
	return 0
}
