package runner

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klptest/klptest/rule"
)

// The decoder fills each quoting violation's Decoded from its Excerpt, with
// a stand-in for scripts/decode_stacktrace.sh that names the file of every
// offset; the message and the excerpt stay as they were.
func TestDecodeViolations(t *testing.T) {
	script := filepath.Join(t.TempDir(), "decode_stacktrace.sh")
	if err := os.WriteFile(script, []byte("sed 's|+0x[0-9a-f]*/0x[0-9a-f]*| (kernel/livepatch/transition.c:106)|'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := &decoder{script: script, env: os.Environ()}
	excerpt := []string{"WARNING: CPU: 1 PID: 45 at klp_complete_transition+0x1d4/0x250", "Call Trace:"}
	vs := []Verdict{{Case: "patch", Violations: []rule.Violation{
		{Rule: rule.KernelLog, Msg: "WARNING in the kernel log at [6.000000]", Excerpt: excerpt},
		{Rule: rule.KernelLog, Msg: "hung task in the kernel log at [7.000000]", Excerpt: []string{"INFO: task exe:155 blocked for more than 120 seconds."}},
		{Rule: rule.Taint, Msg: "the kernel became tainted W (bit 9) during the case"},
	}}}
	decodeViolations(context.Background(), d, vs)
	got := vs[0].Violations
	if want := []string{"WARNING: CPU: 1 PID: 45 at klp_complete_transition (kernel/livepatch/transition.c:106)", "Call Trace:"}; !reflect.DeepEqual(got[0].Decoded, want) {
		t.Errorf("decoded %q, want %q", got[0].Decoded, want)
	}
	if !reflect.DeepEqual(got[0].Excerpt, excerpt) || got[0].Msg != "WARNING in the kernel log at [6.000000]" {
		t.Errorf("the decoder changed the evidence: %+v", got[0])
	}
	if got[1].Decoded != nil {
		t.Errorf("a splat the script added nothing to has decoded frames: %q", got[1].Decoded)
	}
	if got[2].Decoded != nil {
		t.Errorf("a violation quoting nothing has decoded frames: %q", got[2].Decoded)
	}
}
