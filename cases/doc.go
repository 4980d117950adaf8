// Package cases owns klptest's test cases: each case's script of steps
// for the guest agent (Step, the Do* constants), its bound and boot needs,
// and its own checks on its trace, which the host adds to the shared
// invariants of package check. The trace the checks read and the events
// the agent writes are package wire's; the rules they report under and the
// Violation type are package rule's; the test modules' facts (names,
// versions) come from kmod/table. The package is stdlib-only and pure: it
// builds into the guest agent for every GOARCH.
package cases
