package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// clock returns a fake clock that advances by step on every call.
func clock(step time.Duration) func() time.Time {
	t := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(step); return t }
}

func TestPlain(t *testing.T) {
	var b bytes.Buffer
	p := NewPlain(&b, clock(500*time.Millisecond))
	p.Step("", "kernel", "resolve debian:6.12")
	p.Step("debian-6.1-x86_64", "case", "patch (1/9)")
	p.Note("qemu: %s", "qemu-system-x86_64 -M q35")
	p.Step("", "modules", "make: \x1b[01;31merror\x1b[0m: x\tfailed\r")
	want := `2026-11-25T11:00:01Z [   0.5s] kernel    resolve debian:6.12
2026-11-25T11:00:01Z [   1.0s] debian-6.1-x86_64      case      patch (1/9)
2026-11-25T11:00:02Z [   1.5s] qemu: qemu-system-x86_64 -M q35
2026-11-25T11:00:02Z [   2.0s] modules   make: error: x failed
`
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
	for _, r := range b.String() {
		if r != '\n' && isControl(r) {
			t.Fatalf("control character %q in plain output", r)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"\x1b[1;32mPASS\x1b[0m", "PASS"},
		{"a\tb\r\n", "a b"},
		{"bell\a", "bell"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLive(t *testing.T) {
	var b bytes.Buffer
	l := NewLive(&b, clock(time.Second))
	defer l.Close()
	l.Step("cell-a", "boot", "6.12 on x86_64")
	l.Step("cell-b", "kernel", "download")
	b.Reset()
	l.Step("cell-a", "case", "patch (1/9)")
	got := b.String()
	// Up over the two lines drawn, clear, draw both again.
	if !strings.HasPrefix(got, "\x1b[2A\r\x1b[J") {
		t.Errorf("redraw does not move up over the block: %q", got)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(got, "\x1b[2A\r\x1b[J"), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "cell-a") || !strings.Contains(lines[0], "case      patch (1/9)") || !strings.Contains(lines[1], "kernel    download") {
		t.Errorf("block: %q", lines)
	}
	b.Reset()
	l.Note("cell-b: skip: no kernel")
	if got := b.String(); !strings.HasPrefix(got, "\x1b[2A\r\x1b[Jcell-b: skip: no kernel\n") || strings.Count(got, "\n") != 3 {
		t.Errorf("note: %q", got)
	}
}

// A row never wraps: the redraw moves up by rows, so a wrapped row would
// leave stale lines behind.
func TestLiveTruncates(t *testing.T) {
	var b bytes.Buffer
	l := NewLive(&b, clock(time.Second)) // not a terminal: 80 columns
	defer l.Close()
	l.Step("cell", "kernel", strings.Repeat("é", 200))
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		line = strings.TrimPrefix(line, "\r\x1b[J")
		if n := len([]rune(line)); n > 79 {
			t.Errorf("row of %d characters on an 80-column terminal", n)
		}
		if !strings.HasSuffix(line, "…") {
			t.Errorf("cut row not marked: %q", line)
		}
	}
}
