// Package document owns klptest's --json documents: each one's type,
// schema name and version, how it is encoded and decoded, and how a file
// of one lands on disk (written aside, then renamed into place). The
// documents are described in docs/results.md:
//
//   - klptest/run: one run's trace and verdicts (klptest run --json);
//   - klptest/repeat: every run of klptest run --repeat, and the tallies;
//   - klptest/matrix: every cell of klptest matrix;
//   - klptest/bench: klptest bench's samples;
//   - klptest/bisect: klptest bisect's steps and result.
//
// A reader refuses a document of another schema, or of a version newer
// than it knows, with what to do about it.
package document

import (
	"encoding/json"
	"fmt"
	"strings"
)

// head is what every document starts with.
type head struct {
	Schema  string `json:"schema"`
	Version int    `json:"version"`
}

// checkHead reads b's schema and version and refuses a document that is
// not schema, or newer than latest. unversioned says a document without a
// version is one of the first, written before its schema had one.
func checkHead(b []byte, schema, writer string, latest int, unversioned bool) (int, error) {
	var h head
	if err := json.Unmarshal(b, &h); err != nil {
		return 0, fmt.Errorf("not a %s document: %w", writer, err)
	}
	switch {
	case h.Schema != schema:
		return 0, fmt.Errorf("not a %s document: schema %q, want %q (%s writes one)", strings.ReplaceAll(schema, "/", " "), h.Schema, schema, writer)
	case h.Version > latest:
		return 0, fmt.Errorf("document version %d is newer than this klptest reads (up to %d): use a newer klptest", h.Version, latest)
	case h.Version < 1 && !unversioned:
		return 0, fmt.Errorf("document has no version: not written by %s", writer)
	}
	return h.Version, nil
}

// decodeAs reads b as a document of schema (checkHead's arguments) into a
// new T: every Decode* function of the package is this, for its type.
func decodeAs[T any](b []byte, schema, writer string, latest int, unversioned bool) (*T, error) {
	v, err := checkHead(b, schema, writer, latest, unversioned)
	if err != nil {
		return nil, err
	}
	var d T
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode version %d document: %w", v, err)
	}
	return &d, nil
}
