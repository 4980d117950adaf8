package cases

import "testing"

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
