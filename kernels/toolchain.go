package kernels

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/klptest/klptest/cachefs"

	"github.com/klptest/klptest/pgroup"
)

// A toolchain root is a minimal Debian root filesystem holding the compiler
// a Debian kernel was built with, for hosts that lack it (Debian builds 7.2
// with gcc-16; this host has gcc-12). Modules must be built with the
// kernel's own compiler: the headers' config records the flags that
// compiler accepts. The root is made once with mmdebstrap, from the suite
// that serves the compiler, and the module build runs in it under
// bubblewrap (kmod), with the kernel's cache entry bound at its own path.

// compilerRE splits a compiler command: "x86_64-linux-gnu-gcc-16".
var compilerRE = regexp.MustCompile(`^(?:([a-z0-9_]+-linux-gnu)-)?gcc-([0-9]+)$`)

// hostTriple is the GNU triple of this host's own compiler.
func hostTriple() string {
	if runtime.GOARCH == "arm64" {
		return "aarch64-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

// CompilerPackage names the Debian package that provides compiler command
// cc on this host: gcc-16 for the host's own triple, gcc-16-aarch64-linux-gnu
// for a cross compiler. ok is false for a command that is not a Debian gcc.
func CompilerPackage(cc string) (pkg string, ok bool) {
	m := compilerRE.FindStringSubmatch(cc)
	if m == nil {
		return "", false
	}
	if m[1] == "" || m[1] == hostTriple() {
		return "gcc-" + m[2], true
	}
	return "gcc-" + m[2] + "-" + m[1], true
}

// toolchainDir is where the root holding packages include (the compiler
// first) lives: kernels whose builds need the same packages share it.
func (d *Debian) toolchainDir(include []string) string {
	h := sha256.Sum256([]byte(strings.Join(include, "\n")))
	return filepath.Join(d.Cache, "toolchains", include[0]+"-"+runtime.GOARCH+"-"+hex.EncodeToString(h[:])[:12])
}

// toolchainReady says whether dir is a finished root that runs cc.
func toolchainReady(dir, cc string) bool {
	if _, err := os.Stat(filepath.Join(dir, "klptest-toolchain")); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "usr/bin", cc))
	return err == nil
}

// toolchain returns a root filesystem whose cc builds modules, making it
// when the cache has none. conf is the private apt's configuration, used
// to find the suite that serves the compiler.
func (d *Debian) toolchain(ctx context.Context, cc, ccText string, buildDeps []string) (string, error) {
	pkg, ok := CompilerPackage(cc)
	if !ok {
		return "", fmt.Errorf("compiler %s is not a Debian gcc", cc)
	}
	include := append([]string{pkg, "make", "libc6-dev"}, buildDeps...)
	dir := d.toolchainDir(include)
	if toolchainReady(dir, cc) {
		cachefs.Touch(dir) // used: prune keeps it
		return dir, nil
	}
	for _, t := range []struct{ tool, pkg string }{{"mmdebstrap", "mmdebstrap"}, {"bwrap", "bubblewrap"}} {
		if _, err := exec.LookPath(t.tool); err != nil {
			return "", &MissingToolError{Tool: t.tool, Package: t.pkg, For: "a " + pkg + " toolchain root"}
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("toolchain cache: %w", err)
	}
	unlock, err := lock(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if toolchainReady(dir, cc) { // made by another klptest meanwhile
		return dir, nil
	}
	conf, err := d.aptConfig()
	if err != nil {
		return "", err
	}
	suite, version, err := d.servingSuite(ctx, conf, pkg, debianVersion(ccText))
	if err != nil {
		return "", err
	}
	d.progress("make a %s root for %s (%s %s) with mmdebstrap under %s", suite, cc, pkg, version, dir)
	tmp := dir + ".part"
	os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	if err := Mmdebstrap(ctx, suite, tmp, include, "--variant=minbase"); err != nil {
		return "", fmt.Errorf("make the %s toolchain root: %w", pkg, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "usr/bin", cc)); err != nil {
		return "", fmt.Errorf("the %s toolchain root has no %s: %w", pkg, cc, err)
	}
	stamp := fmt.Sprintf("suite %s\npackage %s %s\ninclude %s\n", suite, pkg, version, strings.Join(include, " "))
	if err := os.WriteFile(filepath.Join(tmp, "klptest-toolchain"), []byte(stamp), 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("toolchain cache: %w", err)
	}
	return dir, nil
}

// servingSuite returns the suite that serves pkg for the host's arch in
// version want (the kernel's own compiler build), else the newest.
func (d *Debian) servingSuite(ctx context.Context, conf, pkg, want string) (suite, version string, err error) {
	out, err := d.apt(ctx, conf, d.aptDir(), "apt-cache", "madison", pkg)
	if err != nil {
		return "", "", fmt.Errorf("find a suite serving %s: %w", pkg, err)
	}
	suite, version, ok := ParseMadison(out, runtime.GOARCH, want)
	if !ok {
		return "", "", fmt.Errorf("no Debian suite of %s serves %s for %s", suiteNames(), pkg, runtime.GOARCH)
	}
	return suite, version, nil
}

// ParseMadison picks, from apt-cache madison output, the suite (in Suites)
// serving version want for debArch, else the one serving the newest
// version (apt lists newest first).
func ParseMadison(out []byte, debArch, want string) (suite, version string, ok bool) {
	known := map[string]bool{}
	for _, s := range Suites {
		known[s.Suite] = true
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// " gcc-16 | 16.2.0-4 | http://deb.debian.org/debian sid/main amd64 Packages"
		f := strings.Split(sc.Text(), "|")
		if len(f) != 3 {
			continue
		}
		src := strings.Fields(f[2])
		if len(src) < 3 || src[2] != debArch {
			continue
		}
		s, _, _ := strings.Cut(src[1], "/")
		v := strings.TrimSpace(f[1])
		if !known[s] {
			continue
		}
		if !ok || v == want {
			suite, version, ok = s, v, true
		}
		if v == want {
			break
		}
	}
	return suite, version, ok
}

// debianVersionRE finds the package version in a compiler's version text:
// "x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0".
var debianVersionRE = regexp.MustCompile(`\(Debian ([^)\s]+)\)`)

func debianVersion(ccText string) string {
	if m := debianVersionRE.FindStringSubmatch(ccText); m != nil {
		return m[1]
	}
	return ""
}

// Mmdebstrap makes a Debian root filesystem of suite in dir with mmdebstrap,
// from the suite's mirror in Suites, verified with the archive keyring,
// holding include; opts choose the variant and the like. Its error ends
// with mmdebstrap's last lines.
func Mmdebstrap(ctx context.Context, suite, dir string, include []string, opts ...string) error {
	mirror := "http://deb.debian.org/debian"
	for _, s := range Suites {
		if s.Suite == suite {
			mirror = s.URI
		}
	}
	args := append(append([]string{}, opts...),
		"--include="+strings.Join(include, ","),
		"--keyring="+Keyring,
		`--aptopt=Acquire::Check-Valid-Until "false"`,
		"--quiet",
		suite, dir, mirror)
	cmd := pgroup.Command(ctx, "mmdebstrap", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mmdebstrap %s %s: %w: %s", strings.Join(opts, " "), suite, err, lastLines(out.String(), 5))
	}
	return nil
}
