package runner

import (
	"encoding/json"
	"fmt"

	"github.com/klptest/klptest/wire"
)

// DocumentSchema names klptest run's --json document (docs/results.md).
const DocumentSchema = "klptest/run"

// Document is the --json file: the versioned trace-and-verdict document.
// Version is the trace format's (wire.TraceVersion).
type Document struct {
	Schema  string  `json:"schema"`
	Version int     `json:"version"`
	Error   string  `json:"error,omitempty"` // why the run stopped short
	Result  *Result `json:"result"`
}

// NewDocument wraps a run's result and error.
func NewDocument(res *Result, runErr error) Document {
	d := Document{Schema: DocumentSchema, Version: wire.TraceVersion, Result: res}
	if runErr != nil {
		d.Error = runErr.Error()
	}
	return d
}

// DecodeDocument reads a document of any version this klptest knows, and
// refuses others with what to do about them.
func DecodeDocument(b []byte) (*Document, error) {
	var head struct {
		Schema  string `json:"schema"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("not a klptest document: %w", err)
	}
	switch {
	case head.Schema != DocumentSchema:
		return nil, fmt.Errorf("not a klptest run document: schema %q, want %q (klptest run --json writes one)", head.Schema, DocumentSchema)
	case head.Version > wire.TraceVersion:
		return nil, fmt.Errorf("document version %d is newer than this klptest reads (up to %d): use a newer klptest", head.Version, wire.TraceVersion)
	case head.Version < 1:
		return nil, fmt.Errorf("document has no version: not written by klptest run --json")
	}
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode version %d document: %w", head.Version, err)
	}
	return &d, nil
}
