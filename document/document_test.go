package document

import (
	"strings"
	"testing"
)

// Each decoder reads its own schema, refuses the others' and a version
// newer than it knows, and reads the unversioned documents that were
// written before its schema had a version only where there were some.
func TestDecodeHeads(t *testing.T) {
	decoders := map[string]func([]byte) error{
		RunSchema:    func(b []byte) error { _, err := DecodeRun(b); return err },
		RepeatSchema: func(b []byte) error { _, err := DecodeRepeat(b); return err },
		MatrixSchema: func(b []byte) error { _, err := DecodeMatrix(b); return err },
		BenchSchema:  func(b []byte) error { _, err := DecodeBench(b); return err },
		BisectSchema: func(b []byte) error { _, err := DecodeBisect(b); return err },
	}
	unversioned := map[string]bool{MatrixSchema: true, BisectSchema: true}
	for schema, dec := range decoders {
		if err := dec([]byte(`{"schema":"` + schema + `","version":1}`)); err != nil {
			t.Errorf("%s version 1: %v", schema, err)
		}
		err := dec([]byte(`{"schema":"` + schema + `"}`))
		if unversioned[schema] && err != nil {
			t.Errorf("%s without a version (as written before it had one): %v", schema, err)
		}
		if !unversioned[schema] && (err == nil || !strings.Contains(err.Error(), "has no version")) {
			t.Errorf("%s without a version: err = %v, want it refused", schema, err)
		}
		if err := dec([]byte(`{"schema":"` + schema + `","version":99}`)); err == nil || !strings.Contains(err.Error(), "newer than this klptest reads") {
			t.Errorf("%s version 99: err = %v, want it refused as newer", schema, err)
		}
		for other := range decoders {
			if other == schema {
				continue
			}
			if err := dec([]byte(`{"schema":"` + other + `","version":1}`)); err == nil || !strings.Contains(err.Error(), "want \""+schema+"\"") {
				t.Errorf("%s decoder given %s: err = %v, want it refused", schema, other, err)
			}
		}
	}
}
