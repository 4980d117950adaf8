package kernels

import _ "embed"

// DefaultKernelsFile is kernels.yaml, beside this file, as bytes: the
// kernels file klptest matrix runs without a FILE, and through `klptest
// matrix --list --format github` the cells of CI's workflow. Package
// matrix decodes and validates it; it is embedded here because go:embed
// takes only files under the embedding package's dir.
//
//go:embed kernels.yaml
var DefaultKernelsFile []byte
