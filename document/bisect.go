package document

import "github.com/klptest/klptest/bisect"

// BisectSchema names klptest bisect's --json document.
const BisectSchema = "klptest/bisect"

// BisectVersion is the bisect document's version. The documents written
// before it had one read as version 1.
const BisectVersion = 1

// Bisect is klptest bisect's document: the steps and the result, and why
// the bisection stopped short.
type Bisect struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Error   string         `json:"error,omitempty"`
	Result  *bisect.Result `json:"result"`
}

// NewBisect wraps a bisection's result and error.
func NewBisect(res *bisect.Result, err error) Bisect {
	d := Bisect{Schema: BisectSchema, Version: BisectVersion, Result: res}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

// DecodeBisect reads a bisect document of any version this klptest knows.
func DecodeBisect(b []byte) (*Bisect, error) {
	return decodeAs[Bisect](b, BisectSchema, "klptest bisect --json", BisectVersion, true)
}
