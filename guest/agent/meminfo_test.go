package agent

import (
	"maps"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	b := []byte("MemTotal:        2014848 kB\nMemAvailable:    1803052 kB\nSlab:              41236 kB\nSUnreclaim:        20560 kB\nHugePages_Total:       0\n")
	got, err := parseMeminfo(b, []string{"MemAvailable", "Slab", "SUnreclaim", "Percpu", "HugePages_Total"})
	want := map[string]int{"MemAvailable": 1803052, "Slab": 41236, "SUnreclaim": 20560, "HugePages_Total": 0}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("parseMeminfo = %v, %v; want %v", got, err, want)
	}
	if _, err := parseMeminfo([]byte("Slab: lots kB\n"), []string{"Slab"}); err == nil {
		t.Error("a figure that is no number was taken")
	}
}
