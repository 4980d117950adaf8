package vm

import (
	"io"
	"os"
	"strings"
	"sync"
)

// tailBuffer is an io.Writer that keeps only the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// fileTail returns at most the last max bytes of the file at path, or "".
func fileTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := fi.Size() - max
	if off < 0 {
		off = 0
	}
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return ""
	}
	return string(b)
}

// resultBuffer is an unbounded pipe: the writer (the socket drain) never
// blocks, so the result socket is drained to EOF whether or not anybody
// reads Results, and Wait never depends on the caller reading.
type resultBuffer struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte
	err  error // io.EOF or the read error, once the writer is done
}

func newResultBuffer() *resultBuffer {
	r := &resultBuffer{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *resultBuffer) write(p []byte) {
	r.mu.Lock()
	r.buf = append(r.buf, p...)
	r.mu.Unlock()
	r.cond.Broadcast()
}

func (r *resultBuffer) close(err error) {
	if err == nil {
		err = io.EOF
	}
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cond.Broadcast()
}

// Read blocks until data is available or the writer is done.
func (r *resultBuffer) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) == 0 && r.err == nil {
		r.cond.Wait()
	}
	if len(r.buf) == 0 {
		return 0, r.err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	if len(r.buf) == 0 {
		r.buf = nil // let the backing array go
	}
	return n, nil
}

// shellQuote quotes argv for pasting into a POSIX shell.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuoteArg(a)
	}
	return strings.Join(q, " ")
}

func shellQuoteArg(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@%+=:,./-_", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
