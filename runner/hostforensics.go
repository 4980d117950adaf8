package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klptest/klptest/check"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/ksym"
)

// HostForensics is what the host collected through QEMU's monitor from a
// VM that stopped answering (its agent hung, or the kernel never reached
// it), before killing it: the guest's own forensics need a live agent.
type HostForensics struct {
	Reason string `json:"reason"`
	Case   string `json:"case,omitempty"` // the case running then, if any
	// Sysrq is the console from the SysRq keys on (show-blocked-tasks,
	// then show-task-states), x86 only: arm64 virt has no keyboard.
	Sysrq []string `json:"sysrq,omitempty"`
	// Blocked names the uninterruptible tasks in Sysrq, with their stacks.
	Blocked []string   `json:"blocked,omitempty"`
	CPUs    []CPUState `json:"cpus,omitempty"`
	// Registers is QEMU's "info registers -a", every vCPU's whole state.
	Registers string `json:"registers,omitempty"`
	Vmcore    string `json:"vmcore,omitempty"`
	// Notes say what could not be collected, and why.
	Notes []string `json:"notes,omitempty"`
}

// CPUState is where one vCPU was, from QEMU's "info registers".
type CPUState struct {
	CPU int    `json:"cpu"`
	PC  string `json:"pc"`
	// Symbol names PC: a kernel symbol, "user space", or "" for a kernel
	// address outside the kernel's text (or without a System.map).
	Symbol string `json:"symbol,omitempty"`
	// Seen are the other places later samples found the vCPU at, named
	// the same way: one sample can catch a busy vCPU anywhere, even in
	// user space, while a stuck one shows the same place every time.
	Seen []string `json:"seen,omitempty"`
}

// where names the vCPU's first sample for a person.
func (c CPUState) where() string {
	w := c.Symbol
	if w == "" {
		w = c.PC
	}
	if len(c.Seen) > 0 {
		w += " (then also " + strings.Join(c.Seen, ", ") + ")"
	}
	return w
}

// pcSamples is how many times the host reads the vCPUs' registers, and
// how long apart.
const (
	pcSamples  = 5
	pcInterval = 100 * time.Millisecond
)

// namePC names a program counter: the kernel symbol, or "user space" for
// an address in the lower half (x86_64 and arm64 keep the kernel in the
// upper one).
func namePC(pc uint64, syms *ksym.Map, off uint64) string {
	if pc>>63 == 0 {
		return "user space"
	}
	if syms == nil {
		return ""
	}
	return syms.Name(pc, off)
}

// Summary is the evidence in one line, for a violation.
func (h *HostForensics) Summary() string {
	if h == nil {
		return "no host forensics"
	}
	var parts []string
	if len(h.Blocked) > 0 {
		parts = append(parts, "blocked tasks (sysrq-w): "+strings.Join(h.Blocked, "; "))
	} else if len(h.Sysrq) > 0 {
		parts = append(parts, "sysrq-w showed no blocked task")
	}
	var cpus []string
	for _, c := range h.CPUs {
		cpus = append(cpus, fmt.Sprintf("vCPU %d at %s", c.CPU, c.where()))
	}
	if len(cpus) > 0 {
		parts = append(parts, strings.Join(cpus, ", "))
	}
	if h.Vmcore != "" {
		parts = append(parts, "guest memory dump: "+h.Vmcore)
	}
	if len(parts) == 0 {
		return "host forensics: nothing collected (" + strings.Join(h.Notes, "; ") + ")"
	}
	return "host forensics: " + strings.Join(parts, "; ")
}

// Text renders the evidence for a person; indent prefixes every line.
func (h *HostForensics) Text(indent string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%shost forensics (%s):\n", indent, h.Reason)
	for _, c := range h.CPUs {
		fmt.Fprintf(&b, "%s  vCPU %d: PC %s%s\n", indent, c.CPU, c.PC, strings.TrimPrefix(" "+c.where(), " "+c.PC))
	}
	for _, t := range h.Blocked {
		fmt.Fprintf(&b, "%s  blocked: %s\n", indent, t)
	}
	if len(h.Sysrq) > 0 {
		fmt.Fprintf(&b, "%s  console after SysRq (%d lines, all in the result's JSON):\n", indent, len(h.Sysrq))
		for i, l := range h.Sysrq {
			if i == textSysrqLines {
				fmt.Fprintf(&b, "%s    ... %d more\n", indent, len(h.Sysrq)-i)
				break
			}
			fmt.Fprintf(&b, "%s    %s\n", indent, l)
		}
	}
	if h.Vmcore != "" {
		fmt.Fprintf(&b, "%s  guest memory dump: %s\n", indent, h.Vmcore)
	}
	for _, n := range h.Notes {
		fmt.Fprintf(&b, "%s  not collected: %s\n", indent, n)
	}
	return b.String()
}

// textSysrqLines is how much of the console Text quotes: sysrq-w's list
// and the start of sysrq-t's.
const textSysrqLines = 60

// sysrqLinesMax caps the console kept: a sysrq-t dump of a fork storm is
// tens of thousands of lines, and the console log file keeps them all.
const sysrqLinesMax = 5000

// sysrqLastHeader is the kernel's line as it takes the last key sent (t).
const sysrqLastHeader = "sysrq: Show State"

// sysrqQuiet is how long the console must stay unchanged for the dump to
// count as written, once the last key's dump began (sysrqLastHeader: the
// keys reach a busy TCG guest seconds apart, and the console is quiet
// between two dumps too); sysrqMax bounds the wait.
const (
	sysrqQuiet = 1500 * time.Millisecond
	sysrqMax   = 20 * time.Second
)

// collectHostForensics gathers what QEMU's monitor gives: SysRq dumps on
// the console (x86), every vCPU's PC, named with the System.map when the
// agent reported the KASLR base, and a memory dump with --vmcore.
func collectHostForensics(m monitor, reason, caseName, consoleLog string, k *kernels.Spec, kernelText string, vmcore bool, progress progressFunc) *HostForensics {
	h := &HostForensics{Reason: reason, Case: caseName}
	progress(StepForensics, reason+": collecting host-side evidence")
	start := fileSize(consoleLog)
	// 9: console loglevel 9, or the dumps' KERN_INFO lines stay off a
	// "quiet" console; w: blocked tasks; l: every CPU's backtrace (named
	// by the guest, which matters where no System.map is); t: every task.
	if err := m.SendSysrq("9", "w", "l", "t"); err != nil {
		h.Notes = append(h.Notes, "sysrq: "+err.Error())
	} else {
		waitQuiet(consoleLog, start, sysrqLastHeader)
		h.Sysrq = readFrom(consoleLog, start, sysrqLinesMax)
		h.Blocked = check.SysrqBlocked(h.Sysrq)
		if len(h.Sysrq) == 0 {
			h.Notes = append(h.Notes, "sysrq: no console output (no keyboard driver, or the kernel does not take interrupts)")
		}
	}
	if regs, err := m.HMP("info registers -a"); err != nil {
		h.Notes = append(h.Notes, "registers: "+err.Error())
	} else {
		h.Registers = regs
		h.CPUs = parseRegisters(regs)
		var off uint64
		syms, err := systemMap(k)
		if err != nil {
			h.Notes = append(h.Notes, "vCPU symbols: "+err.Error())
		}
		text, err := strconv.ParseUint(kernelText, 16, 64)
		switch {
		case syms == nil:
		case err != nil || text == 0: // 0: kallsyms hid the addresses
			h.Notes = append(h.Notes, "vCPU symbols: the agent never reported the kernel's base (KASLR)")
			syms = nil
		default:
			off = syms.Offset(text)
		}
		for i := range h.CPUs {
			if pc, err := strconv.ParseUint(h.CPUs[i].PC, 16, 64); err == nil {
				h.CPUs[i].Symbol = namePC(pc, syms, off)
			}
		}
		for n := 1; n < pcSamples; n++ {
			time.Sleep(pcInterval)
			regs, err := m.HMP("info registers -a")
			if err != nil {
				break
			}
			for _, c := range parseRegisters(regs) {
				pc, err := strconv.ParseUint(c.PC, 16, 64)
				if err != nil || c.CPU >= len(h.CPUs) || h.CPUs[c.CPU].CPU != c.CPU {
					continue
				}
				cs := &h.CPUs[c.CPU]
				if w := namePC(pc, syms, off); w != "" && w != cs.Symbol && !slices.Contains(cs.Seen, w) {
					cs.Seen = append(cs.Seen, w)
				}
			}
		}
	}
	if vmcore {
		path := filepath.Join(filepath.Dir(consoleLog), fmt.Sprintf("vmcore-host-%s.elf", orHang(caseName)))
		if err := m.DumpGuestMemory(path, vmcoreTimeout); err != nil {
			h.Notes = append(h.Notes, "memory dump: "+err.Error())
		} else {
			h.Vmcore = path
		}
	}
	return h
}

func orHang(s string) string {
	if s == "" {
		return "boot"
	}
	return s
}

var (
	cpuRE = regexp.MustCompile(`^CPU#([0-9]+)`)
	pcRE  = regexp.MustCompile(`\b(?:RIP|EIP|PC)=([0-9a-fA-F]+)`)
)

// parseRegisters reads each vCPU's program counter from "info registers
// -a": RIP= on x86 (EIP= before long mode), PC= on arm64.
func parseRegisters(out string) []CPUState {
	var cpus []CPUState
	cur := -1
	for _, l := range strings.Split(out, "\n") {
		if m := cpuRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			cur, _ = strconv.Atoi(m[1])
			continue
		}
		if m := pcRE.FindStringSubmatch(l); m != nil && cur >= 0 {
			cpus = append(cpus, CPUState{CPU: cur, PC: strings.ToLower(m[1])})
			cur = -1
		}
	}
	return cpus
}

// systemMap reads the kernel's System.map: next to a Debian image, or in
// a source build dir. Debian's is a placeholder (the real one is in the
// -dbg package), which Read refuses.
func systemMap(k *kernels.Spec) (*ksym.Map, error) {
	var paths []string
	if k.Image != "" {
		dir := filepath.Dir(k.Image)
		paths = append(paths, filepath.Join(dir, "System.map-"+k.Release), filepath.Join(dir, "System.map"))
	}
	if k.BuildDir != "" {
		paths = append(paths, filepath.Join(k.BuildDir, "System.map"))
	}
	var errs []string
	for _, p := range paths {
		m, err := ksym.Open(p)
		if err == nil {
			return m, nil
		}
		if !os.IsNotExist(err) {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s (the guest's own sysrq-l backtraces are in the console)", strings.Join(errs, "; "))
	}
	return nil, errors.New("no System.map for this kernel")
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// waitQuiet waits until the file shows header past from and then stops
// growing for sysrqQuiet, at most sysrqMax; a file that does not grow at
// all is left after 5 s.
func waitQuiet(path string, from int64, header string) {
	last, since := from, time.Now()
	begun := false
	for t0 := time.Now(); time.Since(t0) < sysrqMax; time.Sleep(250 * time.Millisecond) {
		if n := fileSize(path); n != last {
			last, since = n, time.Now()
			// Read again only when the console grew: a sysrq-t dump
			// runs to megabytes.
			begun = begun || strings.Contains(strings.Join(readFrom(path, from, sysrqLinesMax), "\n"), header)
		} else if last != from && begun && time.Since(since) >= sysrqQuiet {
			return
		} else if last == from && time.Since(t0) >= 5*time.Second {
			return // nothing at all: no keyboard, or a dead kernel
		}
	}
}

// readFrom returns the file's lines from offset on, the first max of them
// (sysrq-w's short list comes before sysrq-t's long one).
func readFrom(path string, off int64, max int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	s := strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > max {
		lines = lines[:max]
	}
	return lines
}
