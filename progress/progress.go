// Package progress owns how klptest shows what it is doing: on a terminal,
// a live block with one line per VM (its step, the case i/N, the elapsed
// time) redrawn in place, with finished steps' notes scrolling above it;
// off a terminal (CI logs), plain timestamped lines without a control
// character. Callers report steps; the package decides how they look.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Printer shows progress. Step is one VM's (or the run's) current step;
// Note is a line that stays. Both are safe for concurrent use.
type Printer interface {
	Step(who, step, detail string)
	Note(format string, a ...any)
	// Close stops redrawing and leaves the last state on screen.
	Close()
}

// IsTerminal says whether w is a terminal that takes control sequences.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" || os.Getenv("CI") != "" {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// New returns a live printer on a terminal, else a plain one.
func New(w io.Writer) Printer {
	if IsTerminal(w) {
		return NewLive(w, time.Now)
	}
	return NewPlain(w, time.Now)
}

// Plain writes one line per step and note:
// "2026-11-25T11:20:01Z [  12.3s] WHO STEP DETAIL".
type Plain struct {
	mu    sync.Mutex
	w     io.Writer
	now   func() time.Time
	start time.Time
}

// NewPlain returns a plain printer; now is the clock (tests fix it).
func NewPlain(w io.Writer, now func() time.Time) *Plain {
	return &Plain{w: w, now: now, start: now()}
}

func (p *Plain) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.now()
	fmt.Fprintf(p.w, "%s [%6.1fs] %s\n", t.UTC().Format(time.RFC3339), t.Sub(p.start).Seconds(), Clean(s))
}

func (p *Plain) Step(who, step, detail string) {
	if who == "" {
		p.line(fmt.Sprintf("%-9s %s", step, detail))
		return
	}
	p.line(fmt.Sprintf("%-22s %-9s %s", who, step, detail))
}

func (p *Plain) Note(format string, a ...any) { p.line(fmt.Sprintf(format, a...)) }
func (p *Plain) Close()                       {}

// Clean drops control characters (a compiler's colours, a console's
// escapes), so that a log holds text only.
func Clean(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case r == 0x1b:
			esc = true
		case esc:
			// CSI sequences end with a letter.
			if (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') {
				esc = false
			}
		case r == '\t':
			b.WriteRune(' ')
		case !isControl(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Live redraws one line per VM in place, ticking the elapsed time.
type Live struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	start  time.Time
	order  []string
	rows   map[string]*row
	drawn  int // lines of the block on screen
	width  int // the terminal's columns: a row never wraps, so drawn is exact
	stop   chan struct{}
	closed bool
}

type row struct {
	step, detail string
	since        time.Time
}

// NewLive returns a live printer that redraws every second until Close.
func NewLive(w io.Writer, now func() time.Time) *Live {
	l := &Live{w: w, now: now, start: now(), rows: map[string]*row{}, stop: make(chan struct{}), width: termWidth(w)}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.mu.Lock()
				l.redraw("")
				l.mu.Unlock()
			case <-l.stop:
				return
			}
		}
	}()
	return l
}

func (l *Live) Step(who, step, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	r, ok := l.rows[who]
	if !ok {
		r = &row{}
		l.rows[who] = r
		l.order = append(l.order, who)
	}
	if r.step != step {
		r.since = l.now()
	}
	r.step, r.detail = step, Clean(detail)
	l.redraw("")
}

func (l *Live) Note(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.redraw(Clean(fmt.Sprintf(format, a...)))
}

// redraw moves up over the block, prints note (if any) where the block
// was, and draws the block again under it.
func (l *Live) redraw(note string) {
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", l.drawn)
	}
	b.WriteString("\r\x1b[J")
	if note != "" {
		b.WriteString(note + "\n")
	}
	now := l.now()
	for _, who := range l.order {
		r := l.rows[who]
		name := who
		if name == "" {
			name = "klptest"
		}
		line := fmt.Sprintf("%-22s [%6.1fs] %-9s %s (%ds)", name, now.Sub(l.start).Seconds(), r.step, r.detail, int(now.Sub(r.since).Seconds()))
		b.WriteString(truncate(line, l.width-1) + "\n")
	}
	l.drawn = len(l.order)
	io.WriteString(l.w, b.String())
}

// truncate cuts s to n characters (runes), marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if n < 2 || len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// termWidth is w's width in columns, 80 when it cannot tell.
func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}

func (l *Live) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
}
