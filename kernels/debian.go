package kernels

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/klptest/klptest/cachefs"

	"github.com/klptest/klptest/pgroup"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"
)

// Suites are the Debian suites searched for kernels, oldest first.
var Suites = []struct{ URI, Suite string }{
	{"http://deb.debian.org/debian", "bookworm"},
	{"http://deb.debian.org/debian", "bookworm-updates"},
	{"http://deb.debian.org/debian-security", "bookworm-security"},
	{"http://deb.debian.org/debian", "trixie"},
	{"http://deb.debian.org/debian-security", "trixie-security"},
	{"http://deb.debian.org/debian", "sid"},
}

// Keyring verifies the archive: apt refuses anything it cannot verify.
const Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// listsMaxAge is how old the package lists may get before an update.
const listsMaxAge = 12 * time.Hour

// Debian fetches Debian kernels through a private apt under Cache.
type Debian struct {
	Cache    string                           // klptest's cache root
	Progress func(format string, args ...any) // optional
	// HasCompiler says whether the host can run a compiler command; nil
	// means exec.LookPath.
	HasCompiler func(cmd string) bool
}

func (d *Debian) progress(format string, args ...any) {
	if d.Progress != nil {
		d.Progress(format, args...)
	}
}

func (d *Debian) hasCompiler(cmd string) bool {
	if d.HasCompiler != nil {
		return d.HasCompiler(cmd)
	}
	_, err := exec.LookPath(cmd)
	return err == nil
}

func (d *Debian) aptDir() string { return filepath.Join(d.Cache, "apt") }

// aptConfig writes the private apt configuration and returns its path: its
// own sources, state, cache and (empty) parts dirs, so that nothing of the
// system's apt is read or changed. Signatures are checked; Valid-Until is
// not, as mirrors that serve archive snapshots (like this project's CI) serve
// Release files past that date.
func (d *Debian) aptConfig() (string, error) {
	dir := d.aptDir()
	for _, sub := range []string{"state/lists/partial", "cache/archives/partial", "parts", "prefs", "sources.list.d"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", fmt.Errorf("apt dir: %w", err)
		}
	}
	if _, err := os.Stat(Keyring); err != nil {
		return "", fmt.Errorf("Debian archive keyring %s missing: install debian-archive-keyring", Keyring)
	}
	var src strings.Builder
	for _, s := range Suites {
		fmt.Fprintf(&src, "deb [signed-by=%s arch=amd64,arm64] %s %s main\n", Keyring, s.URI, s.Suite)
	}
	if err := writeIfChanged(filepath.Join(dir, "sources.list"), src.String()); err != nil {
		return "", err
	}
	sandbox := "root"
	if u, err := user.Current(); err == nil {
		sandbox = u.Username
	}
	status := filepath.Join(dir, "status")
	if _, err := os.Stat(status); err != nil {
		if err := os.WriteFile(status, nil, 0o644); err != nil {
			return "", err
		}
	}
	conf := fmt.Sprintf(`Dir::State "%[1]s/state";
Dir::State::status "%[1]s/status";
Dir::Cache "%[1]s/cache";
Dir::Etc::SourceList "%[1]s/sources.list";
Dir::Etc::SourceParts "%[1]s/sources.list.d";
Dir::Etc::Parts "%[1]s/parts";
Dir::Etc::Preferences "%[1]s/prefs/none";
Dir::Etc::PreferencesParts "%[1]s/prefs";
APT::Architecture "amd64";
APT::Architectures { "amd64"; "arm64"; };
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Debug::NoLocking "true";
APT::Sandbox::User "%[2]s";
`, dir, sandbox)
	path := filepath.Join(dir, "apt.conf")
	return path, writeIfChanged(path, conf)
}

func writeIfChanged(path, content string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == content {
		return nil
	}
	return atomicWrite(path, []byte(content))
}

func atomicWrite(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (d *Debian) apt(ctx context.Context, conf, dir string, args ...string) ([]byte, error) {
	cmd := pgroup.Command(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "APT_CONFIG="+conf, "LC_ALL=C")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return out, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// lock takes an exclusive file lock, so that klptest processes sharing the
// cache do not update or extract the same thing at once.
func lock(path string) (func(), error) { return cachefs.Lock(path) }

// update refreshes the package lists when they are missing or old.
func (d *Debian) update(ctx context.Context, conf string, force bool) error {
	stamp := filepath.Join(d.aptDir(), "updated")
	if st, err := os.Stat(stamp); err == nil && !force && time.Since(st.ModTime()) < listsMaxAge {
		return nil
	}
	d.progress("apt-get update (private lists under %s)", d.aptDir())
	if _, err := d.apt(ctx, conf, d.aptDir(), "apt-get", "-q", "update"); err != nil {
		return fmt.Errorf("update Debian package lists: %w", err)
	}
	return os.WriteFile(stamp, nil, 0o644)
}

// Package is one Debian package record.
type Package struct {
	Package string
	Version string
	Depends string
	SHA256  string
}

// Candidate is one Debian kernel of a series.
type Candidate struct {
	ABI      string // "6.12.117+deb12"
	Version  string // "6.12.117-1~deb12u1"
	Compiler string // Debian compiler package the headers depend on, "gcc-12"
	Headers  Package
}

var gccDepRE = regexp.MustCompile(`\b(gcc-[0-9]+)\b`)

// candidates lists the kernels of ref's series for debArch, newest first.
func (d *Debian) candidates(ctx context.Context, conf string, ref Ref, debArch string) ([]Candidate, error) {
	re := fmt.Sprintf(`^linux-headers-%s\.[0-9].*-%s$`, regexp.QuoteMeta(ref.Series), debArch)
	out, err := d.apt(ctx, conf, d.aptDir(), "apt-cache", "search", "--names-only", re)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(l, " ")
		abi := strings.TrimSuffix(strings.TrimPrefix(name, "linux-headers-"), "-"+debArch)
		if name == "" || strings.HasSuffix(abi, "-cloud") || strings.HasSuffix(abi, "-rt") {
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, nil
	}
	pkgs, err := d.show(ctx, conf, names...)
	if err != nil {
		return nil, err
	}
	var cs []Candidate
	for _, p := range pkgs {
		abi := strings.TrimSuffix(strings.TrimPrefix(p.Package, "linux-headers-"), "-"+debArch)
		c := Candidate{ABI: abi, Version: p.Version, Headers: p}
		if m := gccDepRE.FindStringSubmatch(p.Depends); m != nil {
			c.Compiler = m[1]
		}
		cs = append(cs, c)
	}
	SortCandidates(cs)
	return cs, nil
}

// SortCandidates orders candidates newest first by Debian version.
func SortCandidates(cs []Candidate) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, errA := version.Parse(cs[i].Version)
		b, errB := version.Parse(cs[j].Version)
		if errA != nil || errB != nil {
			return cs[i].Version > cs[j].Version
		}
		return version.Compare(a, b) > 0
	})
}

// Pick chooses among candidates (newest first): the one matching want (an
// ABI or a package version) if given, else the newest whose compiler the
// host has, else the newest, so that the compiler check can say what to
// install.
func Pick(cs []Candidate, want string, has func(compiler string) bool) (Candidate, bool) {
	if len(cs) == 0 {
		return Candidate{}, false
	}
	if want != "" {
		for _, c := range cs {
			if c.ABI == want || c.Version == want {
				return c, true
			}
		}
		return Candidate{}, false
	}
	for _, c := range cs {
		if c.Compiler == "" || has(c.Compiler) {
			return c, true
		}
	}
	return cs[0], true
}

// show returns the candidate records of the named packages.
func (d *Debian) show(ctx context.Context, conf string, names ...string) ([]Package, error) {
	out, err := d.apt(ctx, conf, d.aptDir(), append([]string{"apt-cache", "show", "--no-all-versions"}, names...)...)
	if err != nil {
		return nil, err
	}
	var pkgs []Package
	if err := control.Unmarshal(&pkgs, bytes.NewReader(out)); err != nil {
		return nil, fmt.Errorf("parse apt-cache show: %w", err)
	}
	return pkgs, nil
}

// Fetch resolves ref for arch, downloads and extracts what is missing, and
// returns the kernel. Config problems are an *UnsupportedError.
func (d *Debian) Fetch(ctx context.Context, ref Ref, arch string) (*Spec, error) {
	debArch, err := DebArch(arch)
	if err != nil {
		return nil, err
	}
	if ref.Flavour != "" {
		// Debian names a flavour's packages ...-rt-amd64: from here on
		// it is part of the arch suffix.
		debArch = ref.Flavour + "-" + debArch
	}
	if err := os.MkdirAll(d.aptDir(), 0o755); err != nil {
		return nil, fmt.Errorf("cache dir %s: %w", d.Cache, err)
	}
	unlock, err := lock(filepath.Join(d.Cache, "apt.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	conf, err := d.aptConfig()
	if err != nil {
		return nil, err
	}
	if err := d.update(ctx, conf, false); err != nil {
		return nil, err
	}
	resolved := filepath.Join(d.Cache, "resolved", debArch+"-"+strings.ReplaceAll(ref.String(), "/", "_")+".json")
	if spec, ok := d.resolvedSpec(resolved); ok {
		spec.Name = ref.String()
		return spec, d.finish(ctx, spec)
	}
	cs, err := d.candidates(ctx, conf, ref, debArch)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 || (ref.Version != "" && !hasWanted(cs, ref.Version)) {
		// Lists may predate a new kernel: refresh once before giving up.
		if err := d.update(ctx, conf, true); err != nil {
			return nil, err
		}
		if cs, err = d.candidates(ctx, conf, ref, debArch); err != nil {
			return nil, err
		}
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("Debian serves no %s kernel of series %s (suites %s); try debian:6.1, debian:6.12 or debian:7.2", debArch, ref.Series, suiteNames())
	}
	c, ok := Pick(cs, ref.Version, d.hasCompiler)
	if !ok {
		var have []string
		for _, c := range cs {
			have = append(have, c.ABI)
		}
		return nil, fmt.Errorf("Debian serves no %s kernel %s of series %s; it serves: %s", debArch, ref.Version, ref.Series, strings.Join(have, ", "))
	}
	d.progress("%s → %s-%s (%s)", ref, c.ABI, debArch, c.Version)
	spec, err := d.install(ctx, conf, ref, c, arch, debArch)
	if err == nil {
		os.MkdirAll(filepath.Dir(resolved), 0o755)
		atomicWrite(resolved, []byte(spec.Root))
	}
	return spec, err
}

// resolvedSpec returns the kernel a spec resolved to last time, as long as
// the package lists have not been updated since: a warm run asks apt nothing.
func (d *Debian) resolvedSpec(path string) (*Spec, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, false
	}
	stamp, err := os.Stat(filepath.Join(d.aptDir(), "updated"))
	if err != nil || stamp.ModTime().After(st.ModTime()) {
		return nil, false
	}
	root, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	spec := &Spec{}
	b, err := os.ReadFile(filepath.Join(string(root), "klptest-kernel.json"))
	if err != nil || json.Unmarshal(b, spec) != nil {
		return nil, false
	}
	if cachefs.Verify(string(root)) != nil {
		return nil, false // install says so, and fetches it again
	}
	return spec, true
}

func hasWanted(cs []Candidate, want string) bool {
	_, ok := Pick(cs, want, nil)
	return ok
}

func suiteNames() string {
	var s []string
	for _, x := range Suites {
		s = append(s, x.Suite)
	}
	return strings.Join(s, ", ")
}

var depNameRE = regexp.MustCompile(`(?:^|,)\s*(linux-(?:headers|kbuild)-[^\s,(|]+)`)

// install makes sure the cache holds candidate c extracted, and returns it.
func (d *Debian) install(ctx context.Context, conf string, ref Ref, c Candidate, arch, debArch string) (*Spec, error) {
	// The headers name the rest: -common and linux-kbuild-*.
	names := []string{c.Headers.Package}
	for _, m := range depNameRE.FindAllStringSubmatch(c.Headers.Depends, -1) {
		names = append(names, m[1])
	}
	image := "linux-image-" + c.ABI + "-" + debArch
	if pk, err := d.show(ctx, conf, "linux-binary-"+c.ABI+"-"+debArch); err == nil && len(pk) > 0 {
		image = "linux-binary-" + c.ABI + "-" + debArch // the newer split packages
	}
	pkgs, err := d.show(ctx, conf, append(names, image)...)
	if err != nil {
		return nil, fmt.Errorf("look up %s packages: %w", c.ABI, err)
	}
	// Content address: the packages' archive checksums.
	h := sha256.New()
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s %s %s\n", p.Package, p.Version, p.SHA256)
	}
	key := hex.EncodeToString(h.Sum(nil))[:24]
	root := filepath.Join(d.Cache, "kernels", debArch+"-"+c.ABI+"-"+key)
	manifest := filepath.Join(root, "klptest-kernel.json")

	spec := &Spec{}
	if b, err := os.ReadFile(manifest); err == nil && json.Unmarshal(b, spec) == nil {
		if err := cachefs.Verify(root); err != nil {
			d.progress("%v: fetching it again", err)
		} else {
			spec.Name = ref.String()
			return spec, d.finish(ctx, spec)
		}
	}

	tmp := root + ".part"
	os.RemoveAll(tmp)
	debs := filepath.Join(tmp, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	fs := filepath.Join(tmp, "root")
	if err := os.MkdirAll(fs, 0o755); err != nil {
		return nil, err
	}
	// Headers first: they hold the config and the compiler, so that a kernel
	// this host cannot test is refused before the large image is fetched.
	var hdrs, img []Package
	for _, p := range pkgs {
		if p.Package == image {
			img = append(img, p)
		} else {
			hdrs = append(hdrs, p)
		}
	}
	if len(img) != 1 {
		return nil, fmt.Errorf("kernel %s: Debian has no package %s", c.ABI, image)
	}
	if err := d.fetchDebs(ctx, conf, debs, fs, hdrs, false); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", c.ABI, err)
	}
	buildDeps, err := kbuildDepends(hdrs)
	if err != nil {
		return nil, err
	}
	check := &Spec{Name: ref.String(), Release: c.ABI + "-" + debArch, BuildDepends: buildDeps,
		Config: filepath.Join(fs, "usr/src/linux-headers-"+c.ABI+"-"+debArch, ".config")}
	if err := d.finish(ctx, check); err != nil {
		return nil, err
	}
	if err := d.fetchDebs(ctx, conf, debs, fs, img, true); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", c.ABI, err)
	}
	os.RemoveAll(debs)

	// Paths are recorded as they will be after the rename.
	rebase := func(p string) string { return filepath.Join(root, strings.TrimPrefix(p, tmp)) }
	spec, err = layout(fs, c, debArch)
	if err != nil {
		return nil, err
	}
	spec.Arch = arch
	spec.BuildDepends = buildDeps
	cfg, err := ReadConfig(spec.Config)
	if err != nil {
		return nil, err
	}
	if spec.GuestModules, err = guestModules(fs, spec.Release, cfg); err != nil {
		return nil, fmt.Errorf("kernel %s: %w", spec.Release, err)
	}
	for i, m := range spec.GuestModules {
		spec.GuestModules[i] = rebase(m)
	}
	spec.Image, spec.Config, spec.BuildDir, spec.Root = rebase(spec.Image), rebase(spec.Config), rebase(spec.BuildDir), root
	if err := fixHeaders(fs, tmp, root); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(spec, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "klptest-kernel.json"), b, 0o644); err != nil {
		return nil, err
	}
	// What a run reads of the entry on every use: the manifest, the image
	// and the config (the headers tree is too big to hash every time).
	rel := func(p string) string { r, _ := filepath.Rel(root, p); return r }
	if err := cachefs.Commit(tmp, root, "klptest-kernel.json", rel(spec.Image), rel(spec.Config)); err != nil {
		return nil, err
	}
	spec.Name = ref.String()
	return spec, d.finish(ctx, spec)
}

// kbuildDepends lists the packages that the linux-kbuild package of hdrs
// depends on, by name: what its tools need at run time.
func kbuildDepends(hdrs []Package) ([]string, error) {
	var names []string
	for _, p := range hdrs {
		if !strings.HasPrefix(p.Package, "linux-kbuild-") {
			continue
		}
		dep, err := dependency.Parse(p.Depends)
		if err != nil {
			return nil, fmt.Errorf("%s: Depends %q: %w", p.Package, p.Depends, err)
		}
		for _, r := range dep.Relations {
			if len(r.Possibilities) > 0 {
				names = append(names, r.Possibilities[0].Name)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// fetchDebs downloads packages with apt (which verifies them against the
// archive keyring) and extracts them into fs; of an image package only
// /boot, since the guest's drivers are built in (Config.Check).
func (d *Debian) fetchDebs(ctx context.Context, conf, debs, fs string, pkgs []Package, image bool) error {
	var get []string
	for _, p := range pkgs {
		get = append(get, p.Package+"="+p.Version)
	}
	d.progress("download %s", strings.Join(get, " "))
	if _, err := d.apt(ctx, conf, debs, append([]string{"apt-get", "-q", "download"}, get...)...); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	for _, p := range pkgs {
		files, _ := filepath.Glob(filepath.Join(debs, p.Package+"_*.deb"))
		if len(files) != 1 {
			return fmt.Errorf("download %s: %d files", p.Package, len(files))
		}
		script := `dpkg-deb -x "$1" "$2"`
		if image {
			// Older packages put vmlinuz in /boot, newer ones (linux-binary-*)
			// in /usr/lib/modules/RELEASE/; tar fails on the patterns one
			// layout lacks, so the test that follows is what counts.
			script = `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards --no-wildcards-match-slash './boot/*' './usr/lib/modules/*/vmlinuz' ` + strings.Join(driverGlobs, " ") + ` 2>/dev/null; for f in "$2"/boot/vmlinuz* "$2"/usr/lib/modules/*/vmlinuz; do test -e "$f" && exit 0; done; exit 1`
		}
		if out, err := pgroup.Command(ctx, "sh", "-c", script, "sh", files[0], fs).CombinedOutput(); err != nil {
			return fmt.Errorf("extract %s: %w: %s", filepath.Base(files[0]), err, out)
		}
	}
	return nil
}

// finish checks what the kernel needs on this host, and finds (or makes)
// a toolchain root when the host lacks the kernel's compiler.
func (d *Debian) finish(ctx context.Context, spec *Spec) error {
	cfg, err := ReadConfig(spec.Config)
	if err != nil {
		return err
	}
	if err := cfg.Check(fmt.Sprintf("%s (%s)", spec.Name, spec.Release)); err != nil {
		return err
	}
	cc, text := cfg.Compiler()
	spec.CC = cc
	spec.Toolchain = ""
	if cc == "" || d.hasCompiler(cc) {
		return nil
	}
	missing := &MissingCompilerError{Kernel: spec.Name + " (" + spec.Release + ")", CC: cc, Text: text}
	if d.HasCompiler != nil {
		return missing // a test's host: no toolchain roots
	}
	root, err := d.toolchain(ctx, cc, text, spec.BuildDepends)
	if err != nil {
		missing.Cause = err
		return missing
	}
	spec.Toolchain = root
	return nil
}

// MissingCompilerError: the kernel's modules need a compiler the host lacks.
type MissingCompilerError struct {
	Kernel, CC, Text string
	// Cause is why no toolchain root could stand in for the host's
	// compiler; nil when none was tried.
	Cause error
}

func (e *MissingCompilerError) Error() string {
	pkg, ok := CompilerPackage(e.CC)
	if !ok {
		pkg = e.CC
	}
	msg := fmt.Sprintf("kernel %s was built with %s (%s), which this host lacks: modules for it cannot be built; install %s (Debian package %s) or pick a kernel built with this host's compiler",
		e.Kernel, e.CC, e.Text, e.CC, pkg)
	if e.Cause != nil {
		msg += fmt.Sprintf(" (no toolchain root either: %v)", e.Cause)
	}
	return msg
}

func (e *MissingCompilerError) Unwrap() error { return e.Cause }

// layout finds the image, config and build dir in an extracted tree.
func layout(fs string, c Candidate, debArch string) (*Spec, error) {
	release := c.ABI + "-" + debArch
	s := &Spec{Release: release, Version: c.Version}
	for _, p := range []string{"boot/vmlinuz-" + release, "usr/lib/linux-image-" + release + "/vmlinuz", "usr/lib/modules/" + release + "/vmlinuz"} {
		if _, err := os.Stat(filepath.Join(fs, p)); err == nil {
			s.Image = filepath.Join(fs, p)
			break
		}
	}
	if s.Image == "" {
		if m, _ := filepath.Glob(filepath.Join(fs, "boot", "vmlinuz-*")); len(m) == 1 {
			s.Image = m[0]
		}
	}
	s.BuildDir = filepath.Join(fs, "usr/src/linux-headers-"+release)
	s.Config = filepath.Join(s.BuildDir, ".config")
	if s.Image == "" {
		return nil, fmt.Errorf("kernel %s: no vmlinuz in its image package", release)
	}
	if _, err := os.Stat(s.Config); err != nil {
		return nil, fmt.Errorf("kernel %s: headers lack .config: %w", release, err)
	}
	return s, nil
}

// headersPathRE finds the absolute /usr/src paths in a headers package's
// own small Makefile: the include of -common's, and (7.x) KBUILD_OUTPUT.
var headersPathRE = regexp.MustCompile(`(?m)^(include |KBUILD_OUTPUT\s*:?=\s*)/usr/src/`)

// fixHeaders points the headers' absolute /usr/src paths at the extracted
// copy (at its final place, root).
func fixHeaders(fs, tmp, root string) error {
	mks, _ := filepath.Glob(filepath.Join(fs, "usr/src/linux-headers-*/Makefile"))
	final := filepath.Join(root, strings.TrimPrefix(fs, tmp))
	for _, mk := range mks {
		b, err := os.ReadFile(mk)
		if err != nil {
			return err
		}
		nb := headersPathRE.ReplaceAll(b, []byte("${1}"+final+"/usr/src/"))
		if !bytes.Equal(b, nb) {
			if err := os.WriteFile(mk, nb, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
