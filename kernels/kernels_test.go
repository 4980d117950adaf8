package kernels

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		want    Ref
		wantErr string
	}{
		{"debian:6.12", Ref{Kind: "debian", Series: "6.12"}, ""},
		{"debian:6.1@6.1.0-47", Ref{Kind: "debian", Series: "6.1", Version: "6.1.0-47"}, ""},
		{"debian:7.2@7.2.13-1", Ref{Kind: "debian", Series: "7.2", Version: "7.2.13-1"}, ""},
		{"debian:", Ref{}, "want debian:SERIES"},
		{"debian:6", Ref{}, "not MAJOR.MINOR"},
		{"debian:6.12@", Ref{}, "empty version"},
		{"fedora:40", Ref{}, "unknown kind"},
		{"6.12", Ref{}, "want debian:SERIES"},
		{"src:debian:7.2", Ref{Kind: "src", Series: "7.2"}, ""},
		{"debian:6.12-rt", Ref{Kind: "debian", Series: "6.12", Flavour: "rt"}, ""},
		{"debian:6.12-rt@6.12.117-1~deb12u1", Ref{Kind: "debian", Series: "6.12", Flavour: "rt", Version: "6.12.117-1~deb12u1"}, ""},
		{"debian:6.12-", Ref{}, "want a Debian flavour such as rt"},
		{"src:/usr/src/linux", Ref{Kind: "src", Path: "/usr/src/linux"}, ""},
		{"src:debian:7", Ref{}, "not MAJOR.MINOR, e.g. src:debian:7.2"},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRef(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("ParseRef(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestPick(t *testing.T) {
	cs := []Candidate{
		{ABI: "6.12.117+deb13", Version: "6.12.117-1", Compiler: "gcc-14"},
		{ABI: "6.12.117+deb12", Version: "6.12.117-1~deb12u1", Compiler: "gcc-12"},
		{ABI: "6.12.107+deb13", Version: "6.12.107-1", Compiler: "gcc-14"},
		{ABI: "6.12.100+deb12", Version: "6.12.100-1~deb12u1", Compiler: "gcc-12"},
	}
	shuffled := []Candidate{cs[3], cs[0], cs[2], cs[1]}
	SortCandidates(shuffled)
	for i := range cs {
		if shuffled[i].ABI != cs[i].ABI {
			t.Fatalf("SortCandidates: position %d is %s, want %s", i, shuffled[i].ABI, cs[i].ABI)
		}
	}
	gcc12 := func(c string) bool { return c == "gcc-12" }
	none := func(string) bool { return false }
	tests := []struct {
		want   string
		has    func(string) bool
		pick   string
		picked bool
	}{
		{"", gcc12, "6.12.117+deb12", true},              // newest this host can build for
		{"", none, "6.12.117+deb13", true},               // none buildable: newest, the compiler check explains
		{"6.12.100+deb12", none, "6.12.100+deb12", true}, // pinned by ABI
		{"6.12.107-1", gcc12, "6.12.107+deb13", true},    // pinned by package version
		{"6.12.999", gcc12, "", false},
	}
	for _, tt := range tests {
		got, ok := Pick(cs, tt.want, tt.has)
		if ok != tt.picked || got.ABI != tt.pick {
			t.Errorf("Pick(want %q) = %s, %v; want %s, %v", tt.want, got.ABI, ok, tt.pick, tt.picked)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		file    string
		missing []string
		cc      string
	}{
		{"config-6.12-amd64", nil, "x86_64-linux-gnu-gcc-12"},
		{"config-6.1-amd64", nil, "gcc-12"}, // virtio as modules is fine
		// Debian's 6.12 arm64 predates arm64's reliable unwinder, too.
		{"config-6.12-arm64", []string{"CONFIG_LIVEPATCH", "CONFIG_HAVE_RELIABLE_STACKTRACE"}, "aarch64-linux-gnu-gcc-12"},
	}
	for _, tt := range tests {
		b, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		c := ParseConfig(b)
		err = c.Check("debian:6.12")
		var ue *UnsupportedError
		if tt.missing == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.file, err)
			}
		} else if !errors.As(err, &ue) || strings.Join(ue.Missing, ",") != strings.Join(tt.missing, ",") {
			t.Errorf("%s: err = %v, want missing %v", tt.file, err, tt.missing)
		} else if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "CONFIG_LIVEPATCH=y") {
			t.Errorf("%s: message is not one clear line: %q", tt.file, msg)
		}
		if cc, _ := c.Compiler(); cc != tt.cc {
			t.Errorf("%s: compiler %q, want %q", tt.file, cc, tt.cc)
		}
	}
}

func TestMissingCompilerMessage(t *testing.T) {
	e := &MissingCompilerError{Kernel: "debian:7.2 (7.2.13+deb14-amd64)", CC: "x86_64-linux-gnu-gcc-16", Text: "x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0"}
	msg := e.Error()
	for _, want := range []string{"x86_64-linux-gnu-gcc-16", "Debian package gcc-16", "debian:7.2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestCompilerPackage(t *testing.T) {
	host, cross := hostTriple(), "aarch64-linux-gnu"
	if host == cross {
		cross = "x86_64-linux-gnu"
	}
	tests := []struct {
		cc, pkg string
		ok      bool
	}{
		{host + "-gcc-16", "gcc-16", true},
		{"gcc-12", "gcc-12", true},
		{cross + "-gcc-14", "gcc-14-" + cross, true},
		{"clang", "", false},
		{"gcc", "", false},
	}
	for _, tt := range tests {
		pkg, ok := CompilerPackage(tt.cc)
		if pkg != tt.pkg || ok != tt.ok {
			t.Errorf("CompilerPackage(%q) = %q, %v; want %q, %v", tt.cc, pkg, ok, tt.pkg, tt.ok)
		}
	}
}

// TestParseMadison reads apt-cache madison output recorded from the private
// apt (testdata/madison/), newest first.
func TestParseMadison(t *testing.T) {
	tests := []struct {
		file, arch, want string
		suite, version   string
		ok               bool
	}{
		{"gcc-16.txt", "amd64", "16.2.0-4", "sid", "16.2.0-4", true},
		{"gcc-16.txt", "amd64", "", "sid", "16.2.0-4", true},
		{"gcc-16.txt", "arm64", "", "", "", false},
		// The kernel's own build of the compiler wins over a newer one.
		{"gcc-14.txt", "amd64", "14.2.0-19", "trixie", "14.2.0-19", true},
		{"gcc-14.txt", "amd64", "14.1.0-1", "sid", "14.4.0-3", true},
		{"gcc-12.txt", "amd64", "12.2.0-14+deb12u1", "bookworm", "12.2.0-14+deb12u1", true},
	}
	for _, tt := range tests {
		b, err := os.ReadFile("testdata/madison/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		suite, version, ok := ParseMadison(b, tt.arch, tt.want)
		if suite != tt.suite || version != tt.version || ok != tt.ok {
			t.Errorf("%s %s want %q: got %q %q %v; want %q %q %v", tt.file, tt.arch, tt.want, suite, version, ok, tt.suite, tt.version, tt.ok)
		}
	}
	if v := debianVersion("x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0"); v != "16.2.0-4" {
		t.Errorf("debianVersion: %q", v)
	}
}

func TestFixHeaders(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"6.12", "include /usr/src/linux-headers-6.12.117+deb12-common/Makefile\n",
			"include /cache/k/root/usr/src/linux-headers-6.12.117+deb12-common/Makefile\n"},
		{"7.2", "KBUILD_OUTPUT=/usr/src/linux-headers-7.2.13+deb14-amd64\ninclude /usr/src/linux-headers-7.2.13+deb14-common/Makefile\n",
			"KBUILD_OUTPUT=/cache/k/root/usr/src/linux-headers-7.2.13+deb14-amd64\ninclude /cache/k/root/usr/src/linux-headers-7.2.13+deb14-common/Makefile\n"},
		{"common", "# see /usr/src/linux for more\nsrctree := /usr/src/x\n", "# see /usr/src/linux for more\nsrctree := /usr/src/x\n"},
	}
	for _, tt := range tests {
		tmp := t.TempDir()
		dir := tmp + "/root/usr/src/linux-headers-" + tt.name
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/Makefile", []byte(tt.in), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := fixHeaders(tmp+"/root", tmp, "/cache/k"); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(dir + "/Makefile")
		if string(b) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, b, tt.want)
		}
	}
}

func TestConfigHazards(t *testing.T) {
	// The lines of klptest's own x86_64 build of 7.2 before the x86_64
	// fragment asked for -O2 (test-ftrace.sh triple-faulted on it).
	const tinyOs = "CONFIG_X86_64=y\nCONFIG_CC_IS_GCC=y\nCONFIG_GCC_VERSION=120200\nCONFIG_CC_OPTIMIZE_FOR_SIZE=y\n" +
		"CONFIG_FUNCTION_ALIGNMENT=16\nCONFIG_DYNAMIC_FTRACE_WITH_JMP=y\n"
	for _, tc := range []struct {
		name, config string
		want         string // a substring of the one warning; "" = none
	}{
		{"tinyconfig -Os, gcc 12", tinyOs, "CONFIG_CC_OPTIMIZE_FOR_SIZE with gcc 12.2 leaves functions unaligned"},
		{"-O2", strings.Replace(tinyOs, "CONFIG_CC_OPTIMIZE_FOR_SIZE=y", "CONFIG_CC_OPTIMIZE_FOR_PERFORMANCE=y", 1), ""},
		{"gcc 14 aligns under -Os", tinyOs + "CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=y\n", ""},
		{"no jump-marked callbacks (before 7.x)", strings.Replace(tinyOs, "CONFIG_DYNAMIC_FTRACE_WITH_JMP=y", "", 1), ""},
		{"clang", strings.Replace(tinyOs, "CONFIG_CC_IS_GCC=y", "CONFIG_CC_IS_CLANG=y", 1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseConfig([]byte(tc.config)).Hazards()
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("warnings %q, want one containing %q", got, tc.want)
			}
		})
	}
	// Debian's own kernels walk into none of them, nor does klptest's -O2
	// build of 7.2 (recorded configs): a warning there would be a false
	// alarm on a correct kernel.
	for _, f := range []string{"config-6.1-amd64", "config-6.12-amd64", "config-6.12-arm64", "config-7.2-amd64", "config-src-7.2-x86_64"} {
		c, err := ReadConfig(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if h := c.Hazards(); len(h) != 0 {
			t.Errorf("%s: warnings %q", f, h)
		}
	}
}
