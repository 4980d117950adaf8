package document

import (
	"strings"
	"testing"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/check"
	"github.com/klptest/klptest/internal/gzfile"
)

// A version-1 document, as klptest wrote it before tasks became compact
// arrays (a recorded Debian 6.1 patch run), still decodes, and the checker
// judges its trace as it did when it was written.
func TestDecodeOlderDocument(t *testing.T) {
	b, err := gzfile.Read("testdata/run-v1-debian-6.1.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"tasks":[{"pid":1,`) {
		t.Fatal("fixture is not in the older object form")
	}
	d, err := DecodeRun(b)
	if err != nil {
		t.Fatal(err)
	}
	tr := d.Result.Boots[0].Trace
	ct := tr.Cases[0]
	cs, _ := cases.Lookup([]string{ct.Name})
	if len(ct.Snapshots) < 10 || ct.Snapshots[0].Tasks[0].PID != 1 {
		t.Fatalf("snapshots not decoded: %d", len(ct.Snapshots))
	}
	if vs := check.Case(tr, ct, cs[0]); len(vs) != 0 {
		t.Errorf("the recorded passing run fails now: %v", vs)
	}
}

func TestDecodeRunRefuses(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{`{"schema":"klptest/run","version":99,"result":{}}`, "document version 99 is newer than this klptest reads (up to 1): use a newer klptest"},
		{`{"schema":"klptest/run","result":{}}`, "has no version"},
		{`{"schema":"klptest/bisect","version":1}`, `not a klptest run document: schema "klptest/bisect"`},
		{`PASS patch`, "not a klptest run --json document: invalid character"},
	} {
		_, err := DecodeRun([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.doc, err, tt.want)
		}
	}
}
