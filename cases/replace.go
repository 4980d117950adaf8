package cases

import (
	"fmt"
	"strings"

	"github.com/klptest/klptest/rule"
	"github.com/klptest/klptest/wire"
)

func init() {
	register(Case{
		Name: "replace",
		Doc:  "atomic replace: patch A, then B replacing A (stack_order, enabled, A freed and never reached); then A with C stacked on it, the later patch winning",
		Steps: []Step{
			{Do: DoEnable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoEnable, Patch: "klpt_patch2"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoSysfs, Patch: "klpt_patch"},  // replaced: its directory goes, asynchronously
			{Do: DoUnload, Patch: "klpt_patch"}, // replaced, so freed: it can go
			{Do: DoDisable, Patch: "klpt_patch2"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoUnload, Patch: "klpt_patch2"},
			// Stacked without replace: C over A.
			{Do: DoEnable}, {Do: DoWait},
			{Do: DoEnable, Patch: "klpt_patch3"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoSysfs},
			{Do: DoDisable, Patch: "klpt_patch3"}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoDisable}, {Do: DoWait}, {Do: DoSettle},
			{Do: DoUnload, Patch: "klpt_patch3"}, {Do: DoUnload},
		},
		Check: func(tr *wire.Trace, ct *wire.CaseTrace) []rule.Violation {
			var out []rule.Violation
			expectOrder(ct, &out, wire.OpEnable, wire.OpComplete, wire.OpEnable, wire.OpComplete, wire.OpSysfs, wire.OpUnload, wire.OpDisable, wire.OpComplete,
				wire.OpUnload, wire.OpEnable, wire.OpComplete, wire.OpEnable, wire.OpComplete, wire.OpSysfs)
			if s, ok := nth(ct, wire.OpSysfs, 0); ok {
				// Only B is left, enabled, at the bottom of the stack.
				expectSysfs(s, map[string]int{"klpt_patch2.enabled": 1, "klpt_patch2.stack_order": 1, "klpt_patch2.replace": 1}, []string{"klpt_patch"}, &out)
			}
			if s, ok := nth(ct, wire.OpSysfs, 1); ok {
				expectSysfs(s, map[string]int{"klpt_patch.enabled": 1, "klpt_patch.stack_order": 1, "klpt_patch.replace": 0,
					"klpt_patch3.enabled": 1, "klpt_patch3.stack_order": 2, "klpt_patch3.replace": 0}, nil, &out)
			}
			// After B's transition, no task reaches A's functions until A
			// is enabled again.
			done, ok1 := nth(ct, wire.OpComplete, 1)
			again, ok2 := nth(ct, wire.OpEnable, 2)
			if ok1 && ok2 {
				expectNoCalls(ct, patchVersion("klpt_patch"), done.T1, again.T0, &out)
			}
			return out
		},
	})
}

// expectSysfs checks a sysfs op's reads: the attributes in want
// (stack_order and replace only where the kernel has them), and no
// attribute of the patches in absent.
func expectSysfs(o wire.Op, want map[string]int, absent []string, out *[]rule.Violation) {
	for k, v := range want {
		got, ok := o.Counts[k]
		if !ok && (strings.HasSuffix(k, ".stack_order") || strings.HasSuffix(k, ".replace")) {
			continue // older kernels lack these attributes
		}
		if !ok || got != v {
			*out = append(*out, rule.Violation{Rule: rule.Sysfs, T: o.T0, Msg: fmt.Sprintf("/sys/kernel/livepatch/%s reads %d (present %v); want %d", k, got, ok, v)})
		}
	}
	for _, p := range absent {
		for k := range o.Counts {
			if len(k) > len(p) && k[:len(p)+1] == p+"." {
				*out = append(*out, rule.Violation{Rule: rule.Sysfs, T: o.T0, Msg: fmt.Sprintf("/sys/kernel/livepatch/%s still exists: the replaced patch was not freed", p)})
				break
			}
		}
	}
}
