package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The console goes quiet between two SysRq dumps when the keys reach a busy
// guest apart: the wait goes on until the last key's dump began, and then
// until it went quiet.
func TestWaitQuietForLastDump(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, []byte("boot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	from := fileSize(path)
	appendLine := func(s string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		f.WriteString(s + "\n")
		f.Close()
	}
	appendLine("sysrq: Show Blocked State")
	go func() {
		time.Sleep(sysrqQuiet + time.Second) // quiet for longer than sysrqQuiet
		appendLine(sysrqLastHeader)
		appendLine("task:uinit state:D")
	}()
	waitQuiet(path, from, sysrqLastHeader)
	got := strings.Join(readFrom(path, from, sysrqLinesMax), "\n")
	if !strings.Contains(got, "task:uinit") {
		t.Errorf("waitQuiet returned before the last dump; the console read:\n%s", got)
	}
}
