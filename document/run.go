package document

import (
	"bufio"
	"encoding/json"
	"io"

	"github.com/klptest/klptest/runner"
	"github.com/klptest/klptest/wire"
)

// RunSchema names klptest run's --json document.
const RunSchema = "klptest/run"

// RunVersion is the run document's version: the trace format's, which
// is most of it.
const RunVersion = wire.TraceVersion

// Run is one run's document: its result, and why it stopped short.
type Run struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Error   string         `json:"error,omitempty"` // why the run stopped short
	Result  *runner.Result `json:"result"`
}

// NewRun wraps a run's result and error.
func NewRun(res *runner.Result, runErr error) Run {
	d := Run{Schema: RunSchema, Version: RunVersion, Result: res}
	if runErr != nil {
		d.Error = runErr.Error()
	}
	return d
}

// DecodeRun reads a run document of any version this klptest knows.
func DecodeRun(b []byte) (*Run, error) {
	return decodeAs[Run](b, RunSchema, "klptest run --json", RunVersion, false)
}

// EncodeRun writes a run's document to w, compact (a whole suite's trace
// holds thousands of snapshots), on one line: the form WriteRepeat takes.
func EncodeRun(w io.Writer, res *runner.Result, runErr error) error {
	bw := bufio.NewWriter(w)
	if err := json.NewEncoder(bw).Encode(NewRun(res, runErr)); err != nil {
		return err
	}
	return bw.Flush()
}
