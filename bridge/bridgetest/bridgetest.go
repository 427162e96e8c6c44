// Package bridgetest compiles the fake libmlxc of bridge/testdata with the
// system C compiler, for tests of package bridge and of the packages above
// it. It is test support only; nothing in a normal build imports it.
//
// The compiler is $CC, else `go env CC`, else cc. Each variant is built once
// per process into a temporary folder (see Cleanup) as
// <dir>/<variant>/libmlxc.so (libmlxc.dylib on darwin).
package bridgetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Variant is one build of the fake library.
type Variant struct {
	Name    string   // folder name, unique per variant
	Defines []string // -D flags without the -D
	// NeedsCore links the fake against a fake libmlx built into the same
	// folder, reproducing libmlxc's NEEDED libmlx dependency without RPATH.
	NeedsCore bool
}

// The variants the tests use.
var (
	ABI6        = Variant{Name: "abi6", Defines: []string{"FAKE_ABI=6"}}
	ABI5        = Variant{Name: "abi5", Defines: []string{"FAKE_ABI=5"}}
	ABI4        = Variant{Name: "abi4", Defines: []string{"FAKE_ABI=4"}}
	ABI3        = Variant{Name: "abi3", Defines: []string{"FAKE_ABI=3"}}
	NoAstype    = Variant{Name: "noastype", Defines: []string{"FAKE_ABI=6", "FAKE_OMIT_ASTYPE"}}
	VersionFail = Variant{Name: "versionfail", Defines: []string{"FAKE_ABI=6", "FAKE_VERSION_FAIL"}}
	Metal       = Variant{Name: "metal", Defines: []string{"FAKE_ABI=6", "FAKE_METAL"}}
	Core        = Variant{Name: "core", Defines: []string{"FAKE_ABI=6", "FAKE_NEEDS_CORE"}, NeedsCore: true}
	// CoreGone is Core for tests that delete the fake libmlx afterwards
	// (a libmlxc whose libmlx is missing), leaving Core intact.
	CoreGone = Variant{Name: "coregone", Defines: []string{"FAKE_ABI=6", "FAKE_NEEDS_CORE"}, NeedsCore: true}
)

var (
	mu    sync.Mutex
	root  string
	built = map[string]string{}
)

// LibName is the platform file name of a shared library called base
// ("mlxc" -> "libmlxc.so" or "libmlxc.dylib").
func LibName(base string) string {
	if runtime.GOOS == "darwin" {
		return "lib" + base + ".dylib"
	}
	return "lib" + base + ".so"
}

// Path builds v if needed and returns the path of its libmlxc.
func Path(v Variant) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[v.Name]; ok {
		return p, nil
	}
	if root == "" {
		d, err := os.MkdirTemp("", "mlxconv-fakemlxc-")
		if err != nil {
			return "", err
		}
		root = d
	}
	dir := filepath.Join(root, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p, err := build(dir, v)
	if err != nil {
		return "", fmt.Errorf("bridgetest: build %s: %w", v.Name, err)
	}
	built[v.Name] = p
	return p, nil
}

// Cleanup removes everything Path built. Call it from TestMain after the
// tests ran; libraries stay loaded, so later loads from the same process
// are not expected.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if root != "" {
		_ = os.RemoveAll(root)
	}
	root = ""
	built = map[string]string{}
}

// SourceDir is the folder holding fakemlxc.c (bridge/testdata).
func SourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("bridgetest: cannot locate source")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata"), nil
}

func compiler() ([]string, error) {
	if cc := strings.Fields(os.Getenv("CC")); len(cc) > 0 {
		return cc, nil
	}
	out, err := exec.Command("go", "env", "CC").Output()
	if err == nil {
		if cc := strings.Fields(string(out)); len(cc) > 0 {
			return cc, nil
		}
	}
	if _, err := exec.LookPath("cc"); err == nil {
		return []string{"cc"}, nil
	}
	return nil, errors.New("bridgetest: no C compiler (set CC)")
}

func sharedFlags(out string) []string {
	if runtime.GOOS == "darwin" {
		return []string{"-dynamiclib", "-install_name", out}
	}
	return []string{"-shared", "-fPIC", "-pthread", "-Wl,-soname," + filepath.Base(out)}
}

func build(dir string, v Variant) (string, error) {
	src, err := SourceDir()
	if err != nil {
		return "", err
	}
	cc, err := compiler()
	if err != nil {
		return "", err
	}
	var link []string
	if v.NeedsCore {
		core := filepath.Join(dir, LibName("mlx"))
		if err := run(cc, append(sharedFlags(core), "-O1", "-o", core, filepath.Join(src, "fakemlx.c"))); err != nil {
			return "", err
		}
		link = []string{"-L" + dir, "-lmlx"}
		if runtime.GOOS == "linux" {
			link = append([]string{"-Wl,--no-as-needed"}, link...)
		}
	}
	out := filepath.Join(dir, LibName("mlxc"))
	args := append(sharedFlags(out), "-O1", "-o", out)
	for _, d := range v.Defines {
		args = append(args, "-D"+d)
	}
	args = append(args, filepath.Join(src, "fakemlxc.c"))
	args = append(args, link...)
	args = append(args, "-lm")
	if err := run(cc, args); err != nil {
		return "", err
	}
	return out, nil
}

func run(cc, args []string) error {
	cmd := exec.Command(cc[0], append(cc[1:], args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return nil
}
