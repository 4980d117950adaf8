// Package bare holds what klptest bench's bare init and the host agree on.
// It imports nothing, so that the bare init stays the floor under every
// boot.
package bare

// Line is what the bare init prints on the console before it powers off.
const Line = "klptest-bareinit: up"
