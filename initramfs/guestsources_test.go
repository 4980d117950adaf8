package initramfs

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/klptest/klptest/"

// GuestSources is the cache key's view of the agent's code: it must hold
// every package of this module that the agent imports, for every arch the
// agent is built for (else a change there reuses a stale image), and only
// those (a host package in the guest breaks the layering: the guest stays
// apart, on the wire package alone).
func TestGuestSources(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, goarch := range []string{"amd64", "arm64"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/klptest-agent")
		cmd.Dir = root
		cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH="+goarch)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOARCH=%s): %v", goarch, err)
		}
		for _, pkg := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(pkg, modulePath)
			if !ok {
				continue // a dependency module: go.sum keys it
			}
			i := slices.IndexFunc(GuestSources, func(d string) bool { return rel == d || strings.HasPrefix(rel, d+"/") })
			if i < 0 {
				t.Errorf("GOARCH=%s: the agent imports %s, which GuestSources (%v) leaves out of the cache key", goarch, rel, GuestSources)
				continue
			}
			covered[GuestSources[i]] = true
		}
	}
	for _, d := range GuestSources {
		if !covered[d] {
			t.Errorf("GuestSources holds %s, which the agent does not import", d)
		}
	}
}
