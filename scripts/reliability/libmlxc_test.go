package reliability

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/bridge/bridgetest"
)

// Issue #11 point 7: a bad libmlxc (MLXC_LIBRARY) must never crash the
// binary (a truncated one was a SIGBUS inside the dynamic loader for every
// command). `auto` falls back to native naming the file and the reason;
// `--backend mlx` fails with it, on one line.

// fakeLib builds a variant of the fake libmlxc (bridge/testdata) with the
// system C compiler.
func fakeLib(t *testing.T, v bridgetest.Variant) string {
	t.Helper()
	t.Cleanup(bridgetest.Cleanup)
	p, err := bridgetest.Path(v)
	require.NoError(t, err)
	return p
}

// badLib writes data as a libmlxc in a fresh folder.
func badLib(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), bridgetest.LibName("mlxc"))
	require.NoError(t, os.WriteFile(p, data, 0o755))
	return p
}

func libEnv(p string) runOpts { return runOpts{Env: []string{"MLXC_LIBRARY=" + p}} }

// requireNoCrash fails on a Go runtime crash report (SIGBUS, SIGSEGV,
// panic) in the output.
func requireNoCrash(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{"SIGBUS", "SIGSEGV", "signal arrived", "goroutine 1 ", "panic:"} {
		if strings.Contains(r.Stderr, s) {
			t.Fatalf("mlxconv crashed (%s, exit %d):\n%.400s", s, r.Code, r.Stderr)
		}
	}
}

func TestLibmlxcTruncated(t *testing.T) {
	data, err := os.ReadFile(fakeLib(t, bridgetest.ABI6))
	require.NoError(t, err)
	lib := badLib(t, data[:len(data)/2])
	quoted := fmt.Sprintf("%q", lib)

	r := run(t, libEnv(lib), "version")
	requireNoCrash(t, r)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "backend: native on cpu")
	require.Contains(t, r.Stdout, "(MLX unavailable: bridge: unusable library file: "+quoted+": truncated: ")

	r = run(t, libEnv(lib), "version", "--backend", "mlx")
	requireNoCrash(t, r)
	requireOneLineError(t, r, 1, quoted, "truncated")

	src := tinyModel(t)
	before := snapshot(t, src)
	out := filepath.Join(t.TempDir(), "out")
	r = run(t, libEnv(lib), "convert", "--hf-path", src, "--mlx-path", out, "-q", "--backend", "auto")
	requireNoCrash(t, r)
	require.Equal(t, 0, r.Code, r.Stderr)
	// A libmlxc that exists but cannot be used keeps its one-line reason
	// in the summary (only "not found" is shortened to "no libmlxc").
	require.Contains(t, r.Stderr, "backend native (MLX unavailable: ")
	require.Contains(t, r.Stderr, quoted)
	require.FileExists(t, filepath.Join(out, "model.safetensors"))
	requireUnchanged(t, before, src)

	out2 := filepath.Join(t.TempDir(), "out")
	r = run(t, libEnv(lib), "convert", "--hf-path", src, "--mlx-path", out2, "-q", "--quiet", "--backend", "mlx")
	requireNoCrash(t, r)
	requireOneLineError(t, r, 1, quoted, "truncated")
	require.NoDirExists(t, out2)
	requireUnchanged(t, before, src)
}

// Other bad files: the same shape of answer, each with its reason.
func TestLibmlxcBadFiles(t *testing.T) {
	data, err := os.ReadFile(fakeLib(t, bridgetest.ABI6))
	require.NoError(t, err)
	wrongArch := append([]byte(nil), data...)
	if runtime.GOOS == "linux" {
		m := elf.EM_AARCH64
		if runtime.GOARCH == "arm64" {
			m = elf.EM_X86_64
		}
		binary.LittleEndian.PutUint16(wrongArch[0x12:], uint16(m))
	} else {
		cpu := uint32(0x0100000c) // arm64
		if runtime.GOARCH == "arm64" {
			cpu = 0x01000007 // x86_64
		}
		binary.LittleEndian.PutUint32(wrongArch[4:], cpu)
	}
	core := filepath.Join(filepath.Dir(fakeLib(t, bridgetest.Core)), bridgetest.LibName("mlx"))
	tests := []struct {
		name, lib, reason string
	}{
		{"truncated header", badLib(t, data[:20]), "truncated"},
		{"empty", badLib(t, nil), "empty file"},
		{"text", badLib(t, []byte("/* GNU ld script */\nGROUP ( libmlxc.so.0 )\n")), "not a shared library"},
		{"wrong architecture", badLib(t, wrongArch), "wrong architecture"},
		{"libmlx, not mlx-c", core, "not an mlx-c library"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quoted := fmt.Sprintf("%q", tt.lib)
			r := run(t, libEnv(tt.lib), "version")
			requireNoCrash(t, r)
			require.Equal(t, 0, r.Code, r.Stderr)
			require.Contains(t, r.Stdout, "backend: native on cpu")
			require.Contains(t, r.Stdout, quoted)
			require.Contains(t, r.Stdout, tt.reason)
			require.NotContains(t, r.Stdout, "older than mlx-c")

			r = run(t, libEnv(tt.lib), "version", "--backend", "mlx")
			requireNoCrash(t, r)
			requireOneLineError(t, r, 1, quoted, tt.reason)
		})
	}
}

// A libmlxc whose libmlx is missing says how to fix it.
func TestLibmlxcMissingCore(t *testing.T) {
	lib := fakeLib(t, bridgetest.CoreGone)
	require.NoError(t, os.Remove(filepath.Join(filepath.Dir(lib), bridgetest.LibName("mlx"))))
	hint := "put libmlx.so next to it or set LD_LIBRARY_PATH"
	if runtime.GOOS == "darwin" {
		hint = "put libmlx.dylib next to it or set DYLD_LIBRARY_PATH"
	}
	r := run(t, libEnv(lib), "version")
	requireNoCrash(t, r)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "backend: native on cpu")
	require.Contains(t, r.Stdout, hint)

	r = run(t, libEnv(lib), "version", "--backend", "mlx")
	requireOneLineError(t, r, 1, fmt.Sprintf("%q", lib), hint)
}
