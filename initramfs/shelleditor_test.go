package initramfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// The image's shell edits lines with bubbletea. Before v0.24.2 its renderer
// could deadlock on the program's exit (stop held the mutex while the frame
// ticker waited for it), and the guest shell then hung after Enter: a `go
// get -u` or a tidy that lowered it would bring the hang back, so go.mod is
// held to it here, with the older bubbles that bubbline still builds with.
func TestShellEditorVersions(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, r := range f.Require {
		versions[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range f.Replace {
		versions[r.Old.Path] = r.New.Version
	}
	const tea, bubbles = "github.com/charmbracelet/bubbletea", "github.com/charmbracelet/bubbles"
	if v := versions[tea]; semver.Compare(v, "v0.24.2") < 0 {
		t.Errorf("go.mod has %s %q; want v0.24.2 or later, whose renderer does not deadlock on exit", tea, v)
	}
	if v := versions[bubbles]; semver.Compare(v, "v0.16.0") >= 0 {
		t.Errorf("go.mod resolves %s to %s; knz/bubbline (gosh's line editor) builds only with v0.15", bubbles, v)
	}
}
