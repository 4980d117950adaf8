package kmod

import (
	"errors"
	"strings"
	"testing"
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
