//go:build e2e

package report

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The HTML report of a real fork-storm run (recorded: testdata/), rendered
// by headless Chromium (Debian's chromium): the script draws every segment
// of every task, and a screenshot is left for a person to look at (its
// path is logged; KLPTEST_SCREENSHOT_DIR keeps it). No VM.
func TestE2EHTMLInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: install Debian's chromium (or run `make deps`)")
	}
	for _, rec := range []string{"testdata/run-fork-storm-debian-6.1.json.gz", "testdata/run-demo-stall-debian-6.1.json.gz"} {
		t.Run(filepath.Base(rec), func(t *testing.T) {
			res := recordedRun(t, rec)
			r := BuildHTMLReport("klptest run "+filepath.Base(rec), []Cell{{Name: "debian-6.1-x86_64", Result: res}})
			want := 0
			for _, c := range r.Cases {
				want += c.Segments
			}
			page, err := HTML(r)
			if err != nil {
				t.Fatal(err)
			}
			dir := os.Getenv("KLPTEST_SCREENSHOT_DIR")
			if dir == "" {
				dir = t.TempDir()
			}
			html := filepath.Join(dir, filepath.Base(rec)+".html")
			if err := os.WriteFile(html, page, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1400", "--virtual-time-budget=20000"}
			t0 := time.Now()
			dom, err := exec.Command(chromium, append(args, "--dump-dom", "file://"+html)...).Output()
			if err != nil {
				t.Fatalf("chromium --dump-dom: %v", err)
			}
			wall := time.Since(t0)
			m := regexp.MustCompile(`<body data-drawn="([0-9]+)" data-ms="([0-9]+)">`).FindSubmatch(dom)
			if m == nil {
				t.Fatalf("the script did not finish drawing (no data-drawn on <body>)")
			}
			drawn, _ := strconv.Atoi(string(m[1]))
			if drawn != want || want == 0 {
				t.Errorf("drew %d segments, want %d", drawn, want)
			}
			png := filepath.Join(dir, filepath.Base(rec)+".png")
			if out, err := exec.Command(chromium, append(args, "--screenshot="+png, "file://"+html)...).CombinedOutput(); err != nil {
				t.Fatalf("chromium --screenshot: %v\n%s", err, out)
			}
			st, err := os.Stat(png)
			if err != nil || st.Size() < 10000 {
				t.Errorf("screenshot %s missing or blank: %v", png, err)
			}
			t.Logf("%s: %d KiB, %d segments drawn in %s ms (chromium wall %v), screenshot %s", html, len(page)>>10, drawn, m[2], wall.Round(time.Millisecond), png)
		})
	}
}
