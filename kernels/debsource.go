package kernels

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/klptest/klptest/cachefs"

	"github.com/klptest/klptest/pgroup"
)

// Source fetches Debian's linux-source-SERIES (apt verifies it against the
// archive keyring) and unpacks it once into the cache. It returns the source
// tree and the package's identity, which no later upload can change. With
// version (a Debian kernel's own, to take its selftests from), that version
// of the source when Debian still serves it, else the newest.
func (d *Debian) Source(ctx context.Context, series, version string) (dir, id string, err error) {
	if err := os.MkdirAll(d.aptDir(), 0o755); err != nil {
		return "", "", fmt.Errorf("cache dir %s: %w", d.Cache, err)
	}
	unlock, err := lock(filepath.Join(d.Cache, "apt.lock"))
	if err != nil {
		return "", "", err
	}
	defer unlock()
	conf, err := d.aptConfig()
	if err != nil {
		return "", "", err
	}
	if err := d.update(ctx, conf, false); err != nil {
		return "", "", err
	}
	name := "linux-source-" + series
	var pkgs []Package
	if version != "" {
		pkgs, _ = d.show(ctx, conf, name+"="+version)
	}
	if len(pkgs) == 0 {
		pkgs, err = d.show(ctx, conf, name)
	}
	if err != nil || len(pkgs) == 0 {
		if err := d.update(ctx, conf, true); err != nil {
			return "", "", err
		}
		if pkgs, err = d.show(ctx, conf, name); err != nil || len(pkgs) == 0 {
			return "", "", fmt.Errorf("Debian serves no %s (suites %s): try src:debian:7.2, or src:PATH with a source tree", name, suiteNames())
		}
	}
	p := pkgs[0]
	id = fmt.Sprintf("%s %s %s", p.Package, p.Version, p.SHA256)
	dir = filepath.Join(d.Cache, "src", name+"_"+p.Version)
	if _, err := os.Stat(filepath.Join(dir, "Makefile")); err == nil {
		cachefs.Touch(dir) // used: prune keeps it
		return dir, id, nil
	}
	tmp := dir + ".part"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", "", fmt.Errorf("cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	d.progress("download %s=%s", name, p.Version)
	if _, err := d.apt(ctx, conf, tmp, "apt-get", "-q", "download", name+"="+p.Version); err != nil {
		return "", "", fmt.Errorf("download %s: %w", name, err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, name+"_*.deb"))
	if len(debs) != 1 {
		return "", "", fmt.Errorf("download %s: %d files", name, len(debs))
	}
	d.progress("unpack %s", filepath.Base(debs[0]))
	tree := filepath.Join(tmp, "tree")
	os.MkdirAll(tree, 0o755)
	script := `dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/src/$2.tar.xz" | xz -dc -T0 | tar -x -C "$3" --strip-components=1`
	if out, err := pgroup.Command(ctx, "bash", "-o", "pipefail", "-c", script, "sh", debs[0], name, tree).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("unpack %s: %w: %s", filepath.Base(debs[0]), err, lastLines(string(out), 3))
	}
	if err := CheckSourceTree(tree, "src:debian:"+series); err != nil {
		return "", "", err
	}
	os.MkdirAll(filepath.Dir(dir), 0o755)
	os.RemoveAll(dir)
	if err := os.Rename(tree, dir); err != nil {
		return "", "", fmt.Errorf("cache: %w", err)
	}
	return dir, id, nil
}
