package kernels

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Config is a parsed kernel .config: option -> value ("y", "m", "\"text\"").
// Options that are "is not set" are absent.
type Config map[string]string

// ParseConfig parses .config text.
func ParseConfig(b []byte) Config {
	c := Config{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "CONFIG_") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			c[k] = v
		}
	}
	return c
}

// ReadConfig reads and parses a .config file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel config: %w", err)
	}
	return ParseConfig(b), nil
}

// Required are the options klptest cannot test without, built in:
// livepatch and what it needs, the kprobes the probe module resolves
// idle_task() with, and devtmpfs for the guest's /dev. The drivers of the
// result port may be modules (see Drivers).
//
// HAVE_RELIABLE_STACKTRACE is where the arches differ (x86_64: the ORC
// unwinder; arm64: since 6.17). Without it klp_try_switch_task() cannot
// switch a sleeping task, so the cases' expectation that tasks asleep
// outside the patched functions switch at once would not hold: such a
// kernel is refused rather than judged by rules it cannot meet.
var Required = []string{"CONFIG_LIVEPATCH", "CONFIG_MODULES", "CONFIG_KALLSYMS_ALL", "CONFIG_KPROBES", "CONFIG_DEVTMPFS", "CONFIG_HAVE_RELIABLE_STACKTRACE"}

// UnsupportedError says a kernel cannot be tested, and why.
type UnsupportedError struct {
	Kernel  string
	Missing []string
}

func (e *UnsupportedError) Error() string {
	var parts []string
	for _, m := range e.Missing {
		if _, ok := Drivers[m]; ok {
			parts = append(parts, m+"=y or =m")
		} else {
			parts = append(parts, m+"=y")
		}
	}
	return fmt.Sprintf("kernel %s cannot be livepatch-tested: its config lacks %s; use a kernel built with them",
		e.Kernel, strings.Join(parts, ", "))
}

// Check reports the required and built-in options the config lacks.
func (c Config) Check(kernel string) error {
	var missing []string
	for _, o := range Required {
		if c[o] != "y" {
			missing = append(missing, o)
		}
	}
	for _, o := range sortedKeys(Drivers) {
		if c[o] != "y" && c[o] != "m" {
			missing = append(missing, o)
		}
	}
	if len(missing) > 0 {
		return &UnsupportedError{Kernel: kernel, Missing: missing}
	}
	return nil
}

// Hazards are known kernel bugs the config walks into, one sentence each
// with the fix. They warn rather than refuse: whether such a bug bites
// depends on the build's layout, and a kernel developer may be after just
// that. What each rule matches is what the kernel's own code depends on.
func (c Config) Hazards() []string {
	var h []string
	// x86 ftrace (DYNAMIC_FTRACE_WITH_JMP, 7.x) takes bit 0 of a callback's
	// address to mean "jump, do not call" (ftrace_is_jmp). Kbuild asks for
	// aligned functions, but gcc without -fmin-function-alignment (before
	// 14) drops -falign-functions under -Os: a callback such as
	// function_trace_call may sit at an odd address: ftrace then patches
	// in a jump to the byte before it (the previous function's ret), and
	// the first traced call returns into a stale stack slot.
	if c["CONFIG_DYNAMIC_FTRACE_WITH_JMP"] == "y" && c["CONFIG_CC_OPTIMIZE_FOR_SIZE"] == "y" &&
		c["CONFIG_CC_IS_GCC"] == "y" && c["CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT"] != "y" {
		h = append(h, "CONFIG_CC_OPTIMIZE_FOR_SIZE with gcc "+gccVersion(c["CONFIG_GCC_VERSION"])+
			" leaves functions unaligned, and ftrace patches a call to an odd-addressed callback as a jump (ftrace_is_jmp): "+
			"the function tracer crashes such a kernel, and any ftrace user whose callback lands on an odd address can, livepatch included; "+
			"build with CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE=y or gcc 14 or later")
	}
	return h
}

// gccVersion renders CONFIG_GCC_VERSION (120200) as "12.2".
func gccVersion(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return "(version unknown)"
	}
	return fmt.Sprintf("%d.%d", n/10000, n/100%100)
}

// Arch is the arch the config builds for, by klptest's name; "" if neither.
func (c Config) Arch() string {
	switch {
	case c["CONFIG_X86_64"] == "y":
		return "x86_64"
	case c["CONFIG_ARM64"] == "y":
		return "arm64"
	}
	return ""
}

// Compiler is the compiler command recorded in CONFIG_CC_VERSION_TEXT, e.g.
// "x86_64-linux-gnu-gcc-12", and its version text.
func (c Config) Compiler() (cmd, text string) {
	text = strings.Trim(c["CONFIG_CC_VERSION_TEXT"], `"`)
	cmd, _, _ = strings.Cut(text, " ")
	return cmd, text
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}
