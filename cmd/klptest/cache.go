package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/kernels"
)

// cmdCache lists or prunes the cache's entries.
func cmdCache(args []string, stdout, stderr io.Writer) int {
	usageLine := "usage: klptest cache ls | prune --older-than D (e.g. 30d, 12h)"
	if len(args) == 0 || (args[0] != "ls" && args[0] != "prune") {
		fmt.Fprintln(stderr, usageLine)
		return exitUsage
	}
	fs := flag.NewFlagSet("klptest cache "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	older := fs.String("older-than", "", "prune: remove entries last used longer ago than this (30d, 12h, 90m)")
	if !parseNoArgs(fs, args[1:]) {
		return exitUsage
	}
	root, err := kernels.CacheDir()
	if err != nil {
		fmt.Fprintf(stderr, "klptest: cannot test: %v\n", err)
		return exitInfra
	}
	if args[0] == "ls" {
		if *older != "" {
			fmt.Fprintln(stderr, "klptest cache ls: --older-than is for prune")
			return exitUsage
		}
		es, err := cachefs.List(root)
		if err != nil {
			fmt.Fprintf(stderr, "klptest: cache %s: %v\n", root, err)
			return exitInfra
		}
		var total int64
		fmt.Fprintf(stdout, "# %s\n%-10s %10s  %-16s  %-8s  %s\n", root, "KIND", "SIZE", "LAST USED", "CHECKSUM", "NAME")
		for _, e := range es {
			total += e.Size
			// kernels, kmod and initramfs entries carry sums; one
			// without is rebuilt on its next use.
			state := "-"
			if e.Sealed {
				state = "sealed"
			} else if e.Kind == "kernels" || e.Kind == "kmod" || e.Kind == "initramfs" {
				state = "missing"
			}
			fmt.Fprintf(stdout, "%-10s %10s  %-16s  %-8s  %s\n", e.Kind, human(e.Size), e.LastUsed.Format("2006-01-02 15:04"), state, e.Name)
		}
		fmt.Fprintf(stdout, "# %d entries, %s\n", len(es), human(total))
		return exitPass
	}
	if *older == "" {
		fmt.Fprintln(stderr, "klptest cache prune: say which entries go, with --older-than D (e.g. 30d; 0s removes every entry not in use)")
		return exitUsage
	}
	age, err := parseAge(*older)
	if err != nil {
		fmt.Fprintf(stderr, "klptest cache prune: --older-than %q: %v\n", *older, err)
		return exitUsage
	}
	removed, busy, err := cachefs.Prune(root, time.Now().Add(-age))
	if errors.Is(err, cachefs.ErrInUse) {
		fmt.Fprintf(stderr, "klptest cache prune: %s: %v\n", root, err)
		return exitInfra
	}
	var freed int64
	for _, e := range removed {
		freed += e.Size
		fmt.Fprintf(stdout, "removed %s/%s (%s)\n", e.Kind, e.Name, human(e.Size))
	}
	for _, e := range busy {
		fmt.Fprintf(stdout, "kept %s/%s: being made by a klptest process\n", e.Kind, e.Name)
	}
	fmt.Fprintf(stdout, "# freed %s\n", human(freed))
	if err != nil {
		fmt.Fprintf(stderr, "klptest: %v\n", err)
		return exitInfra
	}
	return exitPass
}

// parseAge takes a Go duration or a number of days ("30d").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("not a number of days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("not a duration such as 30d, 12h or 90m")
	}
	return d, nil
}

// human is a byte count for people.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
