package document

import (
	"time"

	"github.com/klptest/klptest/matrix"
	"github.com/klptest/klptest/runner"
)

// MatrixSchema names klptest matrix's --json document.
const MatrixSchema = "klptest/matrix"

// MatrixVersion is the matrix document's version: its results' trace
// format's (RunVersion). The documents written before it had one read as
// version 1.
const MatrixVersion = RunVersion

// Matrix is klptest matrix's document: every cell's outcome.
type Matrix struct {
	Schema  string        `json:"schema"`
	Version int           `json:"version"`
	Cells   []*MatrixCell `json:"cells"`
}

// MatrixCell is one cell's outcome: its run's result, or why it could not
// run.
type MatrixCell struct {
	Cell     matrix.Cell    `json:"cell"`
	Result   *runner.Result `json:"result,omitempty"`
	Skip     string         `json:"skip,omitempty"` // why the cell could not test
	Duration time.Duration  `json:"duration_ns"`
}

// Failed says whether a case of the cell failed.
func (c *MatrixCell) Failed() bool { return c.Result != nil && c.Result.Failed() }

// NewMatrix wraps the cells' outcomes.
func NewMatrix(cells []*MatrixCell) Matrix {
	return Matrix{Schema: MatrixSchema, Version: MatrixVersion, Cells: cells}
}

// DecodeMatrix reads a matrix document of any version this klptest knows.
func DecodeMatrix(b []byte) (*Matrix, error) {
	return decodeAs[Matrix](b, MatrixSchema, "klptest matrix --json", MatrixVersion, true)
}
