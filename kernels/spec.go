// Package kernels owns kernel specs: what a spec string names, where the
// kernel's bootable image, config and module build dir are, and how to get
// them. Debian kernels are fetched with a private apt (no root, no change to
// the system's apt) and extracted into a content-addressed cache.
//
// It reads KLPTEST_CACHE (the cache root; default $XDG_CACHE_HOME/klptest,
// else ~/.cache/klptest).
package kernels

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// Spec is a kernel ready to test: everything klptest needs to know of it.
type Spec struct {
	Name     string `json:"name"`      // as given: "debian:6.12"
	Arch     string `json:"arch"`      // "x86_64" or "arm64"
	Release  string `json:"release"`   // uname -r, e.g. "6.12.117+deb12-amd64"
	Version  string `json:"version"`   // the package version, e.g. "6.12.117-1~deb12u1"
	Image    string `json:"image"`     // bootable image (bzImage / Image)
	Config   string `json:"config"`    // the kernel's .config
	BuildDir string `json:"build_dir"` // for out-of-tree modules (M=)
	CC       string `json:"cc"`        // compiler the kernel was built with, as a command name
	// MakeVars build modules for it: ARCH=, and CROSS_COMPILE= from
	// another host's arch.
	MakeVars []string `json:"make_vars,omitempty"`
	// BuildID changes whenever the kernel is rebuilt in place (tree:, src:),
	// so that nothing built against an older build is reused.
	BuildID string `json:"build_id,omitempty"`
	Root    string `json:"root"` // the cache entry holding it all
	// Toolchain is a root filesystem holding CC, for a kernel built with a
	// compiler the host lacks: modules are built inside it. Empty means
	// the host's own compiler.
	Toolchain string `json:"toolchain,omitempty"`
	// BuildDepends are the Debian packages the module build runs besides
	// the compiler (the kbuild tools' libraries, pahole): a toolchain root
	// holds them too.
	BuildDepends []string `json:"build_depends,omitempty"`
	// GuestModules are drivers the guest loads before the agent starts (the
	// result port\'s, when the kernel builds them as modules), in load order.
	GuestModules []string `json:"guest_modules,omitempty"`
	// Source is the kernel's source tree, where one is at hand (src:, and
	// a tree: built in place or with its O= dir's source link): the
	// kernel's own selftests come from it. Debian kernels take theirs
	// from linux-source-SERIES instead.
	Source string `json:"source,omitempty"`
	// Warnings are known kernel bugs its config walks into (Config.Hazards):
	// in the results, so that a failure they explain is read with them.
	Warnings []string `json:"warnings,omitempty"`
}

// Ref is a parsed spec string, before anything is fetched.
type Ref struct {
	Kind    string // "debian", "tree" or "src"
	Series  string // debian and src:debian: "6.12"
	Flavour string // debian, optional: a kernel flavour, "rt" (PREEMPT_RT) or "cloud"
	Version string // debian, optional: an exact package version or ABI
	Path    string // tree: the built tree; src: the source tree
}

func (r Ref) String() string {
	switch {
	case r.Kind == "tree":
		return "tree:" + r.Path
	case r.Kind == "src" && r.Series != "":
		return "src:debian:" + r.Series
	case r.Kind == "src":
		return "src:" + r.Path
	}
	series := r.Series
	if r.Flavour != "" {
		series += "-" + r.Flavour
	}
	if r.Version != "" {
		return fmt.Sprintf("%s:%s@%s", r.Kind, series, r.Version)
	}
	return r.Kind + ":" + series
}

var (
	seriesRE  = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
	flavourRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
)

// ParseRef parses a spec string. It does no I/O.
func ParseRef(s string) (Ref, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return Ref{}, fmt.Errorf("kernel spec %q: want debian:SERIES[-FLAVOUR][@VERSION] (e.g. debian:6.12, debian:6.12-rt), tree:PATH, src:PATH or src:debian:SERIES", s)
	}
	switch kind {
	case "debian":
		series, ver, _ := strings.Cut(rest, "@")
		series, flavour, hasFlavour := strings.Cut(series, "-")
		if hasFlavour && !flavourRE.MatchString(flavour) {
			return Ref{}, fmt.Errorf("kernel spec %q: flavour %q: want a Debian flavour such as rt (debian:6.12-rt)", s, flavour)
		}
		if !seriesRE.MatchString(series) {
			return Ref{}, fmt.Errorf("kernel spec %q: series %q is not MAJOR.MINOR, e.g. debian:6.12", s, series)
		}
		if strings.Contains(s, "@") && ver == "" {
			return Ref{}, fmt.Errorf("kernel spec %q: empty version after @", s)
		}
		return Ref{Kind: kind, Series: series, Flavour: flavour, Version: ver}, nil
	case "tree":
		return Ref{Kind: kind, Path: rest}, nil
	case "src":
		if series, ok := strings.CutPrefix(rest, "debian:"); ok {
			if !seriesRE.MatchString(series) {
				return Ref{}, fmt.Errorf("kernel spec %q: series %q is not MAJOR.MINOR, e.g. src:debian:7.2", s, series)
			}
			return Ref{Kind: kind, Series: series}, nil
		}
		return Ref{Kind: kind, Path: rest}, nil
	default:
		return Ref{}, fmt.Errorf("kernel spec %q: unknown kind %q (known: debian:SERIES[@VERSION], tree:PATH, src:PATH, src:debian:SERIES)", s, kind)
	}
}

// CacheDir is klptest's cache root.
func CacheDir() (string, error) {
	if d := os.Getenv("KLPTEST_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "klptest"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache dir: set KLPTEST_CACHE or XDG_CACHE_HOME (%w)", err)
	}
	return filepath.Join(home, ".cache", "klptest"), nil
}

// Resolver prepares kernels.
type Resolver struct {
	Cache    string                           // klptest's cache root
	Progress func(format string, args ...any) // optional
	// Fragments are extra config fragments for src: builds (e.g. "debug").
	Fragments []string
}

// Resolve prepares the kernel ref names for arch: fetched and extracted
// (debian), checked in place (tree), or built (src).
func (r Resolver) Resolve(ctx context.Context, ref Ref, arch string) (*Spec, error) {
	s, err := r.resolve(ctx, ref, arch)
	if err != nil {
		return s, err
	}
	// Every kind of kernel checked its config already; this only warns.
	if cfg, err := ReadConfig(s.Config); err == nil {
		s.Warnings = cfg.Hazards()
	}
	return s, nil
}

func (r Resolver) resolve(ctx context.Context, ref Ref, arch string) (*Spec, error) {
	if len(r.Fragments) > 0 && ref.Kind != "src" {
		return nil, fmt.Errorf("config fragments apply to kernels built from source (src:), not to %s", ref)
	}
	switch ref.Kind {
	case "tree":
		return Tree(ref.Path, arch)
	case "debian":
		d := &Debian{Cache: r.Cache, Progress: r.Progress}
		return d.Fetch(ctx, ref, arch)
	case "src":
		s := &Source{Cache: r.Cache, Progress: r.Progress, Fragments: r.Fragments}
		return s.Build(ctx, ref, arch)
	}
	return nil, fmt.Errorf("kernel spec %s: unknown kind", ref)
}

// cacheMinFree is what a first run needs in the cache: a Debian kernel
// package and its headers, the private apt lists, modules and initramfs.
const cacheMinFree = 2 << 30

// CheckCache makes sure dir can hold a run's downloads and builds: that it
// exists or can be made, takes a file, and has cacheMinFree bytes free.
// Each failure says what to do, instead of apt's or make's words halfway
// through a download.
func CheckCache(dir string) error {
	fix := "set KLPTEST_CACHE to a writable dir with room"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cache dir %s cannot be made: %v; %s", dir, unwrapPath(err), fix)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("cache dir %s is not writable: %v; %s", dir, unwrapPath(err), fix)
	}
	f.Close()
	os.Remove(f.Name())
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil {
		if free := st.Bavail * uint64(st.Bsize); free < cacheMinFree {
			return fmt.Errorf("cache dir %s has %d MiB free, and a first run needs about %d MiB; free some space or %s", dir, free>>20, cacheMinFree>>20, fix)
		}
	}
	return nil
}

// unwrapPath drops the *PathError's repetition of the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
