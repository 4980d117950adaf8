package document

import "github.com/klptest/klptest/bench"

// BenchSchema names klptest bench's --json document, a bench.Report.
const BenchSchema = "klptest/bench"

// BenchVersion is the bench document's version.
const BenchVersion = 1

// NewBench is an empty bench report, its head filled in.
func NewBench() *bench.Report {
	return &bench.Report{Schema: BenchSchema, Version: BenchVersion}
}

// DecodeBench reads a bench document of any version this klptest knows.
func DecodeBench(b []byte) (*bench.Report, error) {
	return decodeAs[bench.Report](b, BenchSchema, "klptest bench --json", BenchVersion, false)
}
