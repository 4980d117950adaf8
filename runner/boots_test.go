package runner

import (
	"reflect"
	"testing"

	"github.com/klptest/klptest/cases"
)

// Cases share a boot unless one needs its own; the kernel's selftests
// share one of their own, last (it carries their userland and no klptest
// modules).
func TestBoots(t *testing.T) {
	c := func(name string) cases.Case {
		if s, ok := cases.KselftestScript(name); ok {
			return cases.Kselftest(s)
		}
		cs, err := cases.Lookup([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		return cs[0]
	}
	for _, tc := range []struct {
		name string
		in   []string
		want [][]string
	}{
		{"shared", []string{"patch", "reverse-patch"}, [][]string{{"patch", "reverse-patch"}}},
		{"own boots", []string{"force", "patch", "idle"}, [][]string{{"patch"}, {"force"}, {"idle"}}},
		{"selftests only", []string{"kselftest:test-livepatch.sh", "kselftest:test-sysfs.sh"}, [][]string{{"kselftest:test-livepatch.sh", "kselftest:test-sysfs.sh"}}},
		{"both suites", []string{"kselftest:test-livepatch.sh", "patch", "force", "kselftest:test-sysfs.sh"},
			[][]string{{"patch"}, {"force"}, {"kselftest:test-livepatch.sh", "kselftest:test-sysfs.sh"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []cases.Case
			for _, n := range tc.in {
				in = append(in, c(n))
			}
			var got [][]string
			for _, b := range Boots(in) {
				var names []string
				for _, x := range b {
					names = append(names, x.Name)
				}
				got = append(got, names)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Boots = %q, want %q", got, tc.want)
			}
		})
	}
}
