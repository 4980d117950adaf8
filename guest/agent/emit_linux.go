package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klptest/klptest/cases"
)

// emitter writes events to the result port, one JSON line each, flushed at
// once so that a crash loses nothing already observed.
type emitter struct {
	mu  sync.Mutex
	f   *os.File
	r   *bufio.Reader // the host's replies
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func openPort(timeout time.Duration) (*emitter, error) {
	deadline := time.Now().Add(timeout)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil || strings.TrimSpace(string(b)) != PortName {
				continue
			}
			dev := "/dev/" + filepath.Base(filepath.Dir(n))
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err != nil {
				return nil, fmt.Errorf("open result port %s: %w", dev, err)
			}
			w := bufio.NewWriterSize(f, 1<<16)
			return &emitter{f: f, r: bufio.NewReader(f), w: w, enc: json.NewEncoder(w)}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no virtio port named %s under /sys/class/virtio-ports after %v", PortName, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *emitter) emit(ev cases.Event) {
	ev.V = cases.TraceVersion
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return
	}
	if err := e.enc.Encode(ev); err != nil {
		e.err = err
		return
	}
	e.err = e.w.Flush()
}

// await reads the host's replies until one is the line want. The port is
// the same socket the events go out on; the host writes to it only when an
// event asked it to (forensics with a memory dump).
func (e *emitter) await(want string, timeout time.Duration) error {
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		for {
			s, err := e.r.ReadString('\n')
			if err != nil || strings.TrimSpace(s) == want {
				ch <- line{s, err}
				return
			}
		}
	}()
	select {
	case l := <-ch:
		return l.err
	case <-time.After(timeout):
		return fmt.Errorf("no %q from the host after %v", want, timeout)
	}
}

func (e *emitter) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.w.Flush(); err != nil && e.err == nil {
		e.err = err
	}
	if err := e.f.Sync(); err != nil && e.err == nil {
		e.err = err
	}
	e.f.Close()
	return e.err
}
