package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/wire"
)

// emitter writes events to the result port, one JSON line each, flushed at
// once so that a crash loses nothing already observed.
type emitter struct {
	mu      sync.Mutex
	f       *os.File
	r       *bufio.Reader // the host's replies
	replies chan replyLine
	readOne sync.Once
	w       *bufio.Writer
	enc     *json.Encoder
	err     error
}

func openPort(timeout time.Duration) (*emitter, error) {
	deadline := time.Now().Add(timeout)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil || strings.TrimSpace(string(b)) != wire.PortName {
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
			return nil, fmt.Errorf("no virtio port named %s under /sys/class/virtio-ports after %v", wire.PortName, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *emitter) emit(ev wire.Event) {
	ev.V = wire.TraceVersion
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

type replyLine struct {
	s   string
	err error
}

// reply returns the host's next reply line. The port is the same socket
// the events go out on; the host writes to it only when the agent waits for
// it (forensics with a memory dump, shell-on-fail). One goroutine reads
// the port for good, so that a reply late after a timeout is the next
// one read, not lost to an abandoned reader.
func (e *emitter) reply(timeout time.Duration) (string, error) {
	e.readOne.Do(func() {
		e.replies = make(chan replyLine, 4)
		go func() {
			for {
				s, err := e.r.ReadString('\n')
				e.replies <- replyLine{strings.TrimSpace(s), err}
				if err != nil {
					return
				}
			}
		}()
	})
	select {
	case l := <-e.replies:
		return l.s, l.err
	case <-time.After(timeout):
		return "", fmt.Errorf("no reply from the host after %v", timeout)
	}
}

// await waits for the host's reply want.
func (e *emitter) await(want string, timeout time.Duration) error {
	got, err := e.reply(timeout)
	if err == nil && got != want {
		err = fmt.Errorf("the host replied %q, want %q", got, want)
	}
	return err
}

func (e *emitter) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.w.Flush(); err != nil && e.err == nil {
		e.err = err
	}
	// No fsync: a virtio port has none (EINVAL); written is delivered.
	e.f.Close()
	return e.err
}

// errPortBroken: a fault case broke the result port on purpose.
var errPortBroken = errors.New("result port broken by a fault case")

// breakPort breaks the stream for the lost-result-channel fault tests:
// "truncate" sends half an event line, then nothing more; "close" closes
// the port. The agent runs on, as after a real fault, with nobody told.
func (e *emitter) breakPort(how string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Flush()
	switch how {
	case cases.FaultTruncate:
		e.f.Write([]byte(`{"v":1,"type":"snapshot","case":"fault-res`))
	case cases.FaultClose:
	default:
		return fmt.Errorf("unknown port fault %q (truncate, close)", how)
	}
	e.f.Close()
	e.err = errPortBroken
	return nil
}
