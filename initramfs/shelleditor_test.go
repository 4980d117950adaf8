package initramfs

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The image's shell, built with BuildTags, edits lines with liner and
// links no bubbletea: bubbletea v0.24.1's renderer deadlocks on exit, and
// the guest shell then hangs after Enter.
func TestShellLineEditor(t *testing.T) {
	cmd := exec.Command("go", "list", "-tags="+strings.Join(BuildTags, ","), "-deps", urootCmds+"gosh")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/peterh/liner") {
		t.Errorf("gosh as the image builds it does not use github.com/peterh/liner")
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/charmbracelet/bubbletea") {
			t.Errorf("gosh as the image builds it links %s", d)
		}
	}
}
