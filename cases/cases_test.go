package cases

import (
	"strings"
	"testing"
)

// The VM's derived bound grows with --storm-seconds only for the cases
// that storm.
func TestStorms(t *testing.T) {
	for name, want := range map[string]bool{"fork-storm": true, "patch": false, "signal": false} {
		cs, err := Lookup([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		if got := cs[0].Storms(); got != want {
			t.Errorf("%s: Storms() = %v, want %v", name, got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup([]string{"patch"}); err != nil {
		t.Fatal(err)
	}
	_, err := Lookup([]string{"nope"})
	if err == nil || !strings.Contains(err.Error(), `unknown case "nope"`) || !strings.Contains(err.Error(), "patch") {
		t.Errorf("err = %v", err)
	}
}
