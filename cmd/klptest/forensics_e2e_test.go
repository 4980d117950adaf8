//go:build e2e

package main

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klptest/klptest/document"
)

// A transition held open past its bound by a task parked uninterruptibly in
// the old function (out of the fake signal's reach): the FAIL names the
// task and its stack, the sysrq-t dump is in the trace, and --vmcore leaves
// an ELF core of the guest. Kernel: debian:6.1 amd64.
func TestE2EStallForensics(t *testing.T) {
	requireQEMU(t)
	dir := t.TempDir()
	doc := filepath.Join(dir, "run.json")
	var stdout, stderr bytes.Buffer
	code := Main([]string{"run", "--kernel", "debian:6.1", "--case", "demo-stall", "--vmcore", "--out", dir, "--json", doc}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	out := stdout.String()
	for _, want := range []string{
		"FAIL demo-stall",
		"[end-state] at ",
		"s: the transition to 1 (patched) did not complete within 5s; 1 task held it open: klpt-parker[",
		"klpt_park_func",       // the parked task's stack, in the violation and the forensics
		"in the sysrq-t dump:", // its part of the task dump
		"state:I",              // as the dump shows it: TASK_IDLE, uninterruptible
		"klpt_patch/enabled = 1",
		"klpt_patch/transition = 1",
		"guest memory dump: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := document.DecodeRun(b)
	if err != nil {
		t.Fatal(err)
	}
	var cores []string
	for _, bt := range d.Result.Boots {
		for _, v := range bt.Vmcores {
			if v.Case != "demo-stall" {
				t.Errorf("vmcore %s of case %q", v.Path, v.Case)
			}
			cores = append(cores, v.Path)
		}
		for _, ct := range bt.Trace.Cases {
			if len(ct.Forensics) != 1 {
				t.Errorf("%s: %d forensics records, want 1", ct.Name, len(ct.Forensics))
				continue
			}
			f := ct.Forensics[0]
			if len(f.Blocking) != 1 || f.Blocking[0].Sched != "I" || f.SysrqSeq == 0 || !f.Paused {
				t.Errorf("forensics: %+v", f)
			}
		}
	}
	if len(cores) != 1 {
		t.Fatalf("vmcores %v, want one", cores)
	}
	f, err := elf.Open(cores[0])
	if err != nil {
		t.Fatalf("vmcore: %v", err)
	}
	defer f.Close()
	st, _ := os.Stat(cores[0])
	t.Logf("vmcore %s: %d MiB, %v %v, %d program headers", cores[0], st.Size()>>20, f.Type, f.Machine, len(f.Progs))
	if f.Type != elf.ET_CORE || f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		t.Errorf("vmcore ELF header: type %v machine %v class %v; want ET_CORE, EM_X86_64, ELFCLASS64", f.Type, f.Machine, f.Class)
	}
	var load uint64
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			load += p.Memsz
		}
	}
	if load < 512<<20 {
		t.Errorf("vmcore's PT_LOAD segments cover %d MiB, want the guest's RAM (1 GiB)", load>>20)
	}
}
