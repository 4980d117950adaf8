package kernels

import _ "embed"

// DefaultMatrix is the kernels file klptest matrix runs without one: the
// cells kernel CI covers by default (kernels/kernels.yaml, decoded and
// validated by package matrix).
//
//go:embed kernels.yaml
var DefaultMatrix []byte
