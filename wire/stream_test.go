package wire

import (
	"errors"
	"strings"
	"testing"
)

const hello = `{"v":1,"type":"hello","hello":{"release":"r","machine":"x86_64","cpus":2,"cases":["patch"]}}` + "\n"

func TestReadStream(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   string // error substring; "" = no error
		noDone bool   // the error is ErrNoDone
	}{
		{"complete", hello + `{"v":1,"type":"done"}` + "\n", "", false},
		{"no done", hello + `{"v":1,"type":"case-start","case":"patch"}` + "\n", `without a done event (last event: "case-start")`, true},
		{"truncated line", hello + `{"v":1,"type":"case-sta`, "bad event line", false},
		{"empty", "", `last event: ""`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Trace{}
			err := Read(strings.NewReader(tt.stream), tr, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if errors.Is(err, ErrNoDone) != tt.noDone {
				t.Errorf("errors.Is(%v, ErrNoDone) = %v, want %v", err, !tt.noDone, tt.noDone)
			}
			if tr.Hello == nil && tt.stream != "" {
				t.Error("the events before the break are lost")
			}
		})
	}
}
