package vm

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{
			name: "x86_64 tcg",
			cfg: Config{
				Arch:       "x86_64",
				Kernel:     "/k/bzImage",
				Initrd:     "/k/initramfs.cpio",
				Cmdline:    []string{"quiet", "klptest.case=foo"},
				Accel:      "tcg",
				ConsoleLog: "/out/console.log",
			},
			want: []string{
				"-S",
				"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
				"-M", "q35", "-accel", "tcg,thread=single", "-cpu", "max",
				"-m", "1024", "-smp", "2",
				"-kernel", "/k/bzImage",
				"-initrd", "/k/initramfs.cpio",
				"-append", "console=ttyS0 panic=-1 quiet klptest.case=foo",
				"-chardev", "file,id=con,path=/out/console.log", "-serial", "chardev:con",
				"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
				"-device", "virtio-serial-pci,id=vser0",
				"-chardev", "socket,id=results,fd=4",
				"-device", "virtserialport,bus=vser0.0,chardev=results,name=org.klptest.results",
				"-no-reboot", "-action", "panic=shutdown", "-device", "pvpanic",
			},
		},
		{
			name: "x86_64 kvm",
			cfg: Config{
				Arch:       "x86_64",
				Kernel:     "/k/bzImage",
				Initrd:     "/k/initramfs.cpio",
				MemoryMB:   2048,
				CPUs:       4,
				Accel:      "kvm",
				ConsoleLog: "/out/a,b.log", // commas are doubled inside QEMU options
			},
			want: []string{
				"-S",
				"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
				"-M", "q35", "-accel", "kvm", "-cpu", "host",
				"-m", "2048", "-smp", "4",
				"-kernel", "/k/bzImage",
				"-initrd", "/k/initramfs.cpio",
				"-append", "console=ttyS0 panic=-1",
				"-chardev", "file,id=con,path=/out/a,,b.log", "-serial", "chardev:con",
				"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
				"-device", "virtio-serial-pci,id=vser0",
				"-chardev", "socket,id=results,fd=4",
				"-device", "virtserialport,bus=vser0.0,chardev=results,name=org.klptest.results",
				"-no-reboot", "-action", "panic=shutdown", "-device", "pvpanic",
			},
		},
		{
			name: "arm64 tcg",
			cfg: Config{
				Arch:       "arm64",
				Kernel:     "/k/Image",
				Initrd:     "/k/initramfs.cpio",
				Cmdline:    []string{"klptest.case=bar"},
				Accel:      "tcg",
				ConsoleLog: "/out/console.log",
			},
			want: []string{
				"-S",
				"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
				"-M", "virt", "-accel", "tcg", "-cpu", "max,pauth-impdef=on",
				"-m", "1024", "-smp", "2",
				"-kernel", "/k/Image",
				"-initrd", "/k/initramfs.cpio",
				"-append", "console=ttyAMA0 panic=-1 klptest.case=bar",
				"-chardev", "file,id=con,path=/out/console.log", "-serial", "chardev:con",
				"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
				"-device", "virtio-serial-pci,id=vser0",
				"-chardev", "socket,id=results,fd=4",
				"-device", "virtserialport,bus=vser0.0,chardev=results,name=org.klptest.results",
				"-no-reboot", "-action", "panic=shutdown", "-device", "pvpanic-pci",
			},
		},
		{
			// Args does not look at the host: that arm64 needs an arm64 host
			// under KVM is CheckAccel's.
			name: "arm64 kvm",
			cfg: Config{
				Arch:       "aarch64",
				Kernel:     "/k/Image",
				Accel:      "kvm",
				ConsoleLog: "/out/console.log",
			},
			want: []string{
				"-S",
				"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
				"-M", "virt,gic-version=max", "-accel", "kvm", "-cpu", "host",
				"-m", "1024", "-smp", "2",
				"-kernel", "/k/Image",
				"-append", "console=ttyAMA0 panic=-1",
				"-chardev", "file,id=con,path=/out/console.log", "-serial", "chardev:con",
				"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
				"-device", "virtio-serial-pci,id=vser0",
				"-chardev", "socket,id=results,fd=4",
				"-device", "virtserialport,bus=vser0.0,chardev=results,name=org.klptest.results",
				"-no-reboot", "-action", "panic=shutdown", "-device", "pvpanic-pci",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.Args()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Args() mismatch\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// The accel's pieces of the argv, for each arch: under KVM -accel kvm and
// -cpu host, and no TCG option (thread=single works around a TCG bug and
// must not serialise KVM's vCPUs); under TCG on x86_64, one TCG thread.
func TestArgsAccel(t *testing.T) {
	for _, tc := range []struct {
		arch, accel        string
		wantAccel, wantCPU string
	}{
		{"x86_64", "kvm", "kvm", "host"},
		{"arm64", "kvm", "kvm", "host"},
		{"x86_64", "tcg", "tcg,thread=single", "max"},
		{"x86_64", "", "tcg,thread=single", "max"},
		{"arm64", "tcg", "tcg", "max,pauth-impdef=on"},
	} {
		args, err := Config{Arch: tc.arch, Kernel: "/k", ConsoleLog: "/c", Accel: tc.accel}.Args()
		if err != nil {
			t.Fatal(err)
		}
		if got := argAfter(args, "-accel"); got != tc.wantAccel {
			t.Errorf("%s %q: -accel %q, want %q", tc.arch, tc.accel, got, tc.wantAccel)
		}
		if got := argAfter(args, "-cpu"); got != tc.wantCPU {
			t.Errorf("%s %q: -cpu %q, want %q", tc.arch, tc.accel, got, tc.wantCPU)
		}
		if tc.accel == "kvm" && strings.Contains(strings.Join(args, " "), "thread=") {
			t.Errorf("%s kvm: a TCG thread option in %q", tc.arch, args)
		}
	}
}

// argAfter returns the argument after the only occurrence of flag in args.
func argAfter(args []string, flag string) string {
	var v []string
	for i, a := range args[:len(args)-1] {
		if a == flag {
			v = append(v, args[i+1])
		}
	}
	if len(v) != 1 {
		return fmt.Sprintf("(%s given %d times)", flag, len(v))
	}
	return v[0]
}

// KVM runs only the host's own arch; TCG runs any.
func TestCheckAccel(t *testing.T) {
	other := "arm64"
	if hostArch() == "arm64" {
		other = "x86_64"
	}
	if err := CheckAccel("kvm", other); err == nil || !strings.Contains(err.Error(), "kvm cannot run a "+other+" guest") {
		t.Errorf("CheckAccel(kvm, %s) = %v, want an error", other, err)
	}
	for _, accel := range []string{"", "tcg"} {
		if err := CheckAccel(accel, other); err != nil {
			t.Errorf("CheckAccel(%q, %s) = %v", accel, other, err)
		}
	}
	if err := CheckAccel("kvm", hostArch()); err != nil {
		t.Errorf("CheckAccel(kvm, %s) = %v", hostArch(), err)
	}
	if hostArch() == "x86_64" {
		if err := CheckAccel("kvm", "amd64"); err != nil {
			t.Errorf("CheckAccel(kvm, amd64) = %v", err)
		}
	}
}

func TestKernelCmdline(t *testing.T) {
	c := Config{Arch: "aarch64", Cmdline: []string{"a=1", "b"}}
	if got, want := c.KernelCmdline(), "console=ttyAMA0 panic=-1 a=1 b"; got != want {
		t.Errorf("KernelCmdline() = %q, want %q", got, want)
	}
}

func TestArgsErrors(t *testing.T) {
	ok := Config{Arch: "x86_64", Kernel: "/k", ConsoleLog: "/c"}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"arch", func(c *Config) { c.Arch = "riscv64" }, "unsupported arch"},
		{"kernel", func(c *Config) { c.Kernel = "" }, "no kernel"},
		{"console", func(c *Config) { c.ConsoleLog = "" }, "no console log"},
		{"accel", func(c *Config) { c.Accel = "hvf" }, "unsupported accel"},
		{"memory", func(c *Config) { c.MemoryMB = -1 }, "bad memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := c.Args()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Args() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := ok.Args(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"/usr/bin/qemu", "-append", "console=ttyS0 panic=-1", "", "it's"})
	want := `/usr/bin/qemu -append 'console=ttyS0 panic=-1' '' 'it'\''s'`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}
