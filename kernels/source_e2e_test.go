//go:build e2e

// End-to-end tests of source builds through the kernel's own kconfig.
// Kernel: Debian's linux-source-7.2 (sid), configured for arm64 with
// gcc-aarch64-linux-gnu; nothing is compiled.
package kernels

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An option the arch cannot have stops the build after configuring, with
// the option's name, before the minutes of compiling.
func TestE2EFragmentOptionArchCannotHave(t *testing.T) {
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	frag := filepath.Join(t.TempDir(), "orc.config")
	os.WriteFile(frag, []byte("# x86's unwinder, asked of arm64\nCONFIG_UNWINDER_ORC=y\n"), 0o644)
	s := &Source{Cache: cache, Fragments: []string{frag}, Progress: t.Logf}
	_, err = s.Build(context.Background(), Ref{Kind: "src", Series: "7.2"}, "arm64")
	var de *DroppedOptionsError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want a DroppedOptionsError", err)
	}
	if len(de.Options) != 1 || !strings.HasPrefix(de.Options[0], "CONFIG_UNWINDER_ORC=y (from "+frag) || strings.Contains(err.Error(), "\n") {
		t.Errorf("message %q: want one line naming CONFIG_UNWINDER_ORC from %s", err, frag)
	}
}
