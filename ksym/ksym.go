// Package ksym names kernel text addresses with a System.map: the host's
// view of where a vCPU is, read through QEMU's monitor when the guest no
// longer answers. It does no I/O beyond reading the map it is given.
package ksym

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Map is a kernel's text symbols, sorted by address.
type Map struct {
	syms []sym
	end  uint64 // _etext: addresses past it are not core kernel text
	text uint64 // _text
}

type sym struct {
	addr uint64
	name string
}

// Read parses a System.map ("ADDR TYPE NAME" per line).
func Read(r io.Reader) (*Map, error) {
	m := &Map{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("System.map line %d: bad address %q", n, f[0])
		}
		switch f[2] {
		case "_text":
			m.text = a
		case "_etext":
			m.end = a
		}
		if t := f[1]; t == "t" || t == "T" || t == "w" || t == "W" {
			m.syms = append(m.syms, sym{a, f[2]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// _etext bounds the core kernel's text: without it, module and other
	// addresses would take the last symbol's name.
	if m.text == 0 || m.end == 0 || len(m.syms) == 0 {
		return nil, fmt.Errorf("no _text, _etext or text symbol: a placeholder, not a symbol table (Debian ships the real one in its -dbg package)")
	}
	sort.SliceStable(m.syms, func(i, j int) bool { return m.syms[i].addr < m.syms[j].addr })
	return m, nil
}

// Open reads the System.map at path.
func Open(path string) (*Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Offset is the KASLR displacement: the running kernel's _text (from
// /proc/kallsyms) minus the map's.
func (m *Map) Offset(runningText uint64) uint64 { return runningText - m.text }

// Name returns "symbol+0xoff" for a running kernel's address, given the
// KASLR offset, or "" for an address outside the kernel's text (a module,
// user space).
func (m *Map) Name(addr, offset uint64) string {
	a := addr - offset
	if a < m.text || a < m.syms[0].addr || a >= m.end {
		return ""
	}
	i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].addr > a }) - 1
	// Of aliases, the map's first function: section markers such as
	// __cpuidle_text_start share the address of the function they open.
	first := i
	for first > 0 && m.syms[first-1].addr == m.syms[i].addr {
		first--
	}
	s := m.syms[first]
	for j := first; j <= i; j++ {
		if !marker(m.syms[j].name) {
			s = m.syms[j]
			break
		}
	}
	return fmt.Sprintf("%s+0x%x", s.name, a-s.addr)
}

// marker reports a linker-script boundary symbol rather than a function.
func marker(name string) bool {
	return strings.HasPrefix(name, "_") && (strings.HasSuffix(name, "_start") || strings.HasSuffix(name, "_end") || name == "_text" || name == "_stext" || name == "_etext")
}
