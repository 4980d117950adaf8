package kmod

import (
	"errors"
	"strings"
	"testing"

	"github.com/klptest/klptest/kernels"
)

// A failed build's message leads with the tool's own error lines.
func TestBuildErrorMessage(t *testing.T) {
	out := `  CC [M]  /tmp/x/klpt_probe.o
  MODPOST /tmp/x/Module.symvers
ERROR: modpost: "find_task_by_pid_ns" [/tmp/x/klpt_probe.ko] undefined!
make[1]: *** [scripts/Makefile.modpost:127: /tmp/x/Module.symvers] Error 1
make: *** [Makefile:2017: modpost] Error 2
`
	e := &BuildError{Kernel: "6.1.0-56-amd64", Err: errors.New("exit status 2"), Output: out}
	msg := e.Error()
	if !strings.Contains(msg, `"find_task_by_pid_ns" [/tmp/x/klpt_probe.ko] undefined!`) || strings.Contains(msg, "make[1]") {
		t.Errorf("message:\n%s", msg)
	}
	cc := "/tmp/x/klpt_target.c:25:1: error: expected ';' before '}' token\nmake[2]: *** Error 1\n"
	if msg := (&BuildError{Kernel: "k", Err: errors.New("exit status 2"), Output: cc}).Error(); !strings.Contains(msg, "expected ';'") {
		t.Errorf("message:\n%s", msg)
	}
}

// The toolchain root's fresh /tmp is mounted before the binds: a cache
// under /tmp (CI's XDG_CACHE_HOME) must stay visible inside.
func TestBwrapArgsMountOrder(t *testing.T) {
	k := &kernels.Spec{Toolchain: "/tmp/c/toolchains/gcc-16", Root: "/tmp/c/kernels/amd64-7.2"}
	args := bwrapArgs(k, "/tmp/c/kmod/.build-1", []string{"make", "modules"})
	at := func(flag, arg string) int {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == flag && args[i+1] == arg {
				return i
			}
		}
		t.Fatalf("no %s %s in %q", flag, arg, args)
		return -1
	}
	tmp := at("--tmpfs", "/tmp")
	if root := at("--bind", k.Toolchain); root > tmp {
		t.Errorf("the root is bound after /tmp: %q", args)
	}
	for _, bind := range [][2]string{{"--ro-bind", k.Root}, {"--bind", "/tmp/c/kmod/.build-1"}} {
		if i := at(bind[0], bind[1]); i < tmp {
			t.Errorf("%s %s comes before --tmpfs /tmp, which hides it: %q", bind[0], bind[1], args)
		}
	}
	if got := args[len(args)-3:]; got[0] != "--" || got[1] != "make" {
		t.Errorf("argv not last after --: %q", args)
	}
}
