package agent

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/wire"
)

// preempt makes the kernel fully preemptible where its model can be
// switched at run time and is not preemptible already, and records the
// model then in force; the cleanup restores the one it found.
func (r *caseRun) preempt() error {
	o := wire.Op{Kind: wire.OpPreempt, T0: now()}
	var err error
	o.Preempt, err = r.setPreempt()
	r.preemptModel = o.Preempt
	if err != nil {
		o.Err = err.Error()
	}
	o.T1 = now()
	r.ev(wire.Event{Type: wire.EvOp, Op: &o})
	return err
}

func (r *caseRun) setPreempt() (string, error) {
	b, err := os.ReadFile(preemptFile)
	if err != nil {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return "", err
		}
		return builtPreempt(unix.ByteSliceToString(u.Version[:])), nil
	}
	cur, ok := currentPreempt(string(b))
	if !ok || wire.Preemptible(cur) {
		return cur, nil
	}
	if err := os.WriteFile(preemptFile, []byte(wire.PreemptFull), 0); err != nil {
		return cur, err
	}
	r.preemptWas = cur
	b, err = os.ReadFile(preemptFile)
	if err != nil {
		return "", err
	}
	now, _ := currentPreempt(string(b))
	return now, nil
}

// restorePreempt puts back the model preempt found.
func (r *caseRun) restorePreempt() error {
	if r.preemptWas == "" {
		return nil
	}
	was := r.preemptWas
	r.preemptWas = ""
	return os.WriteFile(preemptFile, []byte(strings.TrimSpace(was)), 0)
}

// waitChainKinds waits until the switch attempts since the latest
// transition step include every kind of chain task, or the bound passes.
func (r *caseRun) waitChainKinds() error {
	var t0 int64
	r.recMu.Lock()
	for _, o := range r.ops {
		switch o.Kind {
		case wire.OpEnable, wire.OpDisable, wire.OpReverse:
			t0 = o.T0
		}
	}
	r.recMu.Unlock()
	deadline := time.Now().Add(cases.ChainKindsSeconds * time.Second)
	for time.Now().Before(deadline) {
		r.drainProbe()
		r.recMu.Lock()
		n := wire.ChainKindsSince(r.switches, t0)
		r.recMu.Unlock()
		all := true
		for _, k := range wire.ChainKinds {
			all = all && n[k] > 0
		}
		if all {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}
