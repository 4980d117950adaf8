package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrNoDone is returned when the stream ended without a done event: the
// guest died, or the port broke, before the agent finished. Whatever the
// console says, such a run has not passed.
var ErrNoDone = errors.New("result stream ended without a done event")

// maxLine bounds one event line: a storm's forks event or a sysrq-t
// forensics one runs to megabytes.
const maxLine = 64 << 20

// Read folds the result stream into tr until EOF, calling onEvent (if not
// nil) after each event is applied. A line that does not decode breaks the
// stream; a stream without a done event ends with an error wrapping
// ErrNoDone. What was read before either stays in tr.
func Read(r io.Reader, tr *Trace, onEvent func(Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	for sc.Scan() {
		ev, err := DecodeLine(sc.Bytes())
		if err != nil {
			return fmt.Errorf("result stream broken after event %q: %w", tr.Last, err)
		}
		if err := tr.Apply(ev); err != nil {
			return err
		}
		if onEvent != nil {
			onEvent(ev)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !tr.Done {
		return fmt.Errorf("%w (last event: %q)", ErrNoDone, tr.Last)
	}
	return nil
}
