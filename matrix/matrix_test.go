package matrix

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/klptest/klptest/kernels"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func read(t *testing.T, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseValid(t *testing.T) {
	f, err := Parse(read(t, "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Cells) != 4 || f.Cells[1].Arch != "arm64" || strings.Join(f.Cells[1].Cases, ",") != "patch,fork-storm" || f.Cells[2].Accel != "tcg" || f.Cells[3].Suite != "kselftest" {
		t.Errorf("cells: %+v", f.Cells)
	}
	b, err := GitHub(f.Cells)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "github.golden", string(b)+"\n")
}

// Every problem at once, each with its path.
func TestParseInvalid(t *testing.T) {
	tests := []struct{ file, golden string }{
		{"invalid.yaml", "invalid.golden"},
		{"unknown-key.yaml", "unknown-key.golden"},
	}
	for _, tt := range tests {
		_, err := Parse(read(t, tt.file))
		if err == nil {
			t.Fatalf("%s: no error", tt.file)
		}
		golden(t, tt.golden, err.Error()+"\n")
	}
	if _, err := Parse(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestShard(t *testing.T) {
	var cells []Cell
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		cells = append(cells, Cell{Name: n})
	}
	for _, n := range []int{1, 2, 3, 5, 7} {
		seen := map[string]int{}
		for i := 1; i <= n; i++ {
			for _, c := range Shard(cells, i, n) {
				seen[c.Name]++
			}
		}
		for _, c := range cells {
			if seen[c.Name] != 1 {
				t.Errorf("%d shards: cell %s in %d shards", n, c.Name, seen[c.Name])
			}
		}
	}
	if got := Shard(cells, 2, 2); len(got) != 2 || got[0].Name != "b" || got[1].Name != "d" {
		t.Errorf("shard 2/2 = %v", got)
	}
	for _, bad := range []string{"0/2", "3/2", "1/0", "a/b", "1/2/3", "1"} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if i, n, err := ParseShard("2/3"); err != nil || i != 2 || n != 3 {
		t.Errorf("ParseShard(2/3) = %d, %d, %v", i, n, err)
	}
}

func TestSelect(t *testing.T) {
	f, _ := Parse(read(t, "valid.yaml"))
	got, err := f.Select([]string{"debian-6.1-x86_64", "debian-6.12-x86_64"})
	if err != nil || len(got) != 2 || got[0].Name != "debian-6.12-x86_64" {
		t.Errorf("Select = %v, %v (want file order)", got, err)
	}
	if _, err := f.Select([]string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "no cell nosuch") || !strings.Contains(err.Error(), "src-7.2-arm64") {
		t.Errorf("unknown cell: %v", err)
	}
}

// The kernels file klptest ships parses, and covers what kernel CI needs.
func TestDefaultKernelsFile(t *testing.T) {
	f, err := Parse(kernels.DefaultKernelsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"debian:6.1 x86_64": false, "debian:6.12 x86_64": false, "debian:7.2 x86_64": false,
		"src:debian:7.2 arm64": false, "debian:6.12-rt x86_64": false}
	for _, c := range f.Cells {
		want[c.Kernel+" "+c.Arch] = true
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("the default kernels file lacks %s", k)
		}
	}
}
