package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/pgroup"
)

// decoder turns the addresses of a kernel splat into file:line with the
// kernel's own scripts/decode_stacktrace.sh, for kernels whose build dir
// holds a vmlinux with debug info (source-built ones with
// CONFIG_DEBUG_INFO); Debian's packages ship none.
type decoder struct {
	script, vmlinux, base, modules string
	env                            []string
}

// newDecoder returns nil when kernel k cannot be decoded.
func newDecoder(k *kernels.Spec, moduleDir string) *decoder {
	cfg, err := kernels.ReadConfig(k.Config)
	if err != nil || cfg["CONFIG_DEBUG_INFO"] != "y" {
		return nil
	}
	vmlinux := filepath.Join(k.BuildDir, "vmlinux")
	if _, err := os.Stat(vmlinux); err != nil {
		return nil
	}
	d := &decoder{vmlinux: vmlinux, modules: moduleDir, env: os.Environ()}
	// In an O= build dir the sources are behind the "source" link.
	for _, base := range []string{filepath.Join(k.BuildDir, "source"), k.BuildDir} {
		script := filepath.Join(base, "scripts", "decode_stacktrace.sh")
		if _, err := os.Stat(script); err == nil {
			d.script = script
			d.base, _ = filepath.EvalSymlinks(base)
			break
		}
	}
	if d.script == "" {
		return nil
	}
	for _, v := range k.MakeVars {
		if strings.HasPrefix(v, "CROSS_COMPILE=") {
			d.env = append(d.env, v) // the script runs ${CROSS_COMPILE}addr2line
		}
	}
	return d
}

// decode runs the splat's lines through the script; it returns nil when
// that added nothing.
func (d *decoder) decode(ctx context.Context, lines []string) []string {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := pgroup.Command(ctx, "bash", d.script, d.vmlinux, d.base, d.modules)
	cmd.Env = d.env
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out bytes.Buffer
	cmd.Stdout = &out
	if cmd.Run() != nil {
		return nil
	}
	got := strings.TrimRight(out.String(), "\n")
	if got == strings.Join(lines, "\n") {
		return nil
	}
	return strings.Split(got, "\n")
}

// decodeViolations decodes the kernel log each violation quotes (its
// Excerpt) into its Decoded frames.
func decodeViolations(ctx context.Context, d *decoder, vs []Verdict) {
	if d == nil {
		return
	}
	for i := range vs {
		for j, v := range vs[i].Violations {
			if len(v.Excerpt) > 0 {
				vs[i].Violations[j].Decoded = d.decode(ctx, v.Excerpt)
			}
		}
	}
}
