package runner

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/klptest/klptest/cachefs"
	"github.com/klptest/klptest/cases"
	"github.com/klptest/klptest/initramfs"
	"github.com/klptest/klptest/kernels"
	"github.com/klptest/klptest/kmod"
	"github.com/klptest/klptest/kselftest"
	"github.com/klptest/klptest/vm"
)

// run is one entry point's state: its options, the result it fills and
// how it reports.
type run struct {
	o        Options
	res      *Result
	progress progressFunc
	start    func(context.Context, vm.Config) (machine, error) // nil: startVM
}

func newRun(o Options) *run {
	return &run{o: o, res: &Result{Arch: o.Arch, Phases: map[string]time.Duration{}}, progress: o.progress()}
}

// interrupted marks a result cut short by the context in any step (a
// download, a build), not only during a boot.
func (r *run) interrupted(ctx context.Context) {
	if ctx.Err() != nil && r.res.Incomplete == "" {
		r.res.Incomplete = "interrupted"
	}
}

// timed runs one phase and adds its time to the result.
func (r *run) timed(phase Step, f func() error) error {
	t := time.Now()
	err := f()
	r.res.Phases[string(phase)] += time.Since(t)
	return err
}

// need says what a boot needs beyond the kernel.
type need struct {
	modules bool // klptest's modules and the agent's initramfs (else: the kernel alone)
	// cases are klptest's cases to run; kselftest adds the kernel's own
	// selftests (named by Options.Cases, known once the source is).
	cases     []cases.Case
	kselftest bool
}

// image is what prepare made: everything a boot needs, on disk.
type image struct {
	kernel  *kernels.Spec
	modules []string // klptest's .ko files
	initrd  string   // "" for a kernel-only image (the bare boot builds its own)
	// cases are the cases to run: klptest's, then the selftests found in
	// the kernel's source.
	cases   []cases.Case
	accel   string
	runDir  string
	release func() // lets go of the cache
}

// prepare makes what the boots need: the cache in use, the kernel, the
// selftests' files, klptest's modules, the initramfs, the run dir and the
// accelerator. Every failure is an *InfraError. It returns nil only when it
// failed before taking the cache; otherwise the caller releases the image,
// also on an error.
func (r *run) prepare(ctx context.Context, n need) (*image, error) {
	o, res, progress := &r.o, r.res, r.progress
	// A kernel spec that does not parse is found before QEMU is looked
	// for: bad input gets its own message whatever the host lacks.
	ref, err := kernels.ParseRef(o.Kernel)
	if err != nil {
		return nil, infra("kernel", err)
	}
	// Before any download or build: a missing QEMU is found in a second.
	if _, err := vm.FindQEMU(o.Arch); err != nil {
		return nil, infra("qemu", err)
	}
	if err := vm.CheckAccel(o.Accel, o.Arch); err != nil {
		return nil, infra("qemu", err)
	}
	if o.Src == "" {
		if o.Src, err = FindSrc(); err != nil {
			return nil, infra("find source", err)
		}
	}
	res.Klptest = Version(o.Src)
	if o.Cache == "" {
		if o.Cache, err = kernels.CacheDir(); err != nil {
			return nil, infra("cache", err)
		}
	}
	if err := kernels.CheckCache(o.Cache); err != nil {
		return nil, infra("cache", err)
	}
	release, err := cachefs.Use(o.Cache)
	if err != nil {
		return nil, infra("cache", err)
	}
	img := &image{release: release, cases: n.cases}

	progress(StepKernel, "resolve "+ref.String())
	frags := o.Fragments
	if n.kselftest && ref.Kind == "src" && !slices.Contains(frags, "kselftest") {
		frags = append(append([]string{}, frags...), "kselftest") // the selftests' config
	}
	err = r.timed(StepKernel, func() error {
		kr := kernels.Resolver{Cache: o.Cache, Fragments: frags,
			Progress: func(f string, a ...any) { progress(StepKernel, fmt.Sprintf(f, a...)) }}
		img.kernel, err = kr.Resolve(ctx, ref, o.Arch)
		return err
	})
	k := img.kernel
	if k != nil {
		res.Kernel = k
	}
	if err != nil {
		return img, infra("kernel", err)
	}
	progress(StepKernel, fmt.Sprintf("%s (%s)", k.Release, k.Version))
	for _, w := range k.Warnings {
		progress(StepKernel, "warning: "+w)
	}
	// A wrong-arch or cut-off image fails here, not as a boot timeout.
	if err := kernels.CheckImageArch(k.Image, o.Arch); err != nil {
		return img, infra("kernel", err)
	}

	if n.modules {
		if err := r.prepareGuest(ctx, img, n); err != nil {
			return img, err
		}
	}

	if img.runDir = o.RunDir; img.runDir == "" {
		if img.runDir, err = os.MkdirTemp("", "klptest-run-"); err != nil {
			return img, infra("run dir", err)
		}
	} else if err := os.MkdirAll(img.runDir, 0o700); err != nil {
		// Private, like the temp dir: consoles and memory dumps hold the
		// guest's memory.
		return img, infra("run dir", fmt.Errorf("--out %s: %w", img.runDir, err))
	}
	if img.accel = o.Accel; img.accel == "" {
		img.accel = vm.DetectAccel("", o.Arch)
	}
	res.Accel = img.accel
	res.QEMU, _ = vm.QEMUVersion("", o.Arch)
	return img, nil
}

// prepareGuest makes the guest's half: the selftests' files when asked
// for, klptest's modules, and the initramfs with the agent.
func (r *run) prepareGuest(ctx context.Context, img *image, n need) error {
	o, progress, k := &r.o, r.progress, img.kernel
	var extra map[string]string
	if n.kselftest {
		var g *kselftest.Guest
		err := r.timed(StepKselftest, func() (err error) {
			g, err = kselftest.Prepare(ctx, k, o.Cache, func(s string) { progress(StepKselftest, s) })
			return err
		})
		if err != nil {
			return infra("kselftest", err)
		}
		scripts, err := g.Suite.Select(o.Cases)
		if err != nil {
			return infra("kselftest", err)
		}
		for _, sc := range scripts {
			c := cases.Kselftest(sc)
			img.cases = append(img.cases, c)
			r.res.Cases = append(r.res.Cases, c.Name)
		}
		extra = g.Files
	}

	progress(StepModules, "build against "+k.BuildDir)
	err := r.timed(StepModules, func() (err error) {
		var built bool
		img.modules, built, err = kmod.Build(ctx, k, o.Cache, func(s string) { progress(StepModules, s) })
		if err == nil && !built {
			progress(StepModules, "cached")
		}
		return err
	})
	if err != nil {
		return infra("modules", err)
	}

	arch, err := kernels.LookupArch(o.Arch)
	if err != nil {
		return infra("arch", err)
	}
	progress(StepInitramfs, "build for "+arch.GOARCH)
	err = r.timed(StepInitramfs, func() (err error) {
		var built bool
		img.initrd, built, err = initramfs.Build(ctx, initramfs.Spec{GOARCH: arch.GOARCH, Modules: img.modules, BootModules: k.GuestModules, Src: o.Src, Extra: extra}, o.Cache, func(s string) { progress(StepInitramfs, s) })
		if err == nil && !built {
			progress(StepInitramfs, "cached")
		}
		return err
	})
	if err != nil {
		return infra("initramfs", err)
	}
	return nil
}
