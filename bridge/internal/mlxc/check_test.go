//go:build (darwin || linux) && !ios && !android && (amd64 || arm64) && !nomlx

package mlxc

// Bad library files, generated from the fake libmlxc (bridge/testdata,
// built with the system C compiler), go through Check and the real Load:
// each fails with a one-line error naming the file, and none reaches the
// dynamic loader (a truncated file there is a SIGBUS, not an error).

import (
	"debug/elf"
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/bridge/bridgetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	bridgetest.Cleanup()
	os.Exit(code)
}

func fake(t *testing.T, v bridgetest.Variant) string {
	t.Helper()
	p, err := bridgetest.Path(v)
	require.NoError(t, err)
	return p
}

// cut is a truncation point of a library file.
type cut struct {
	name string
	at   int64
}

// cutPoints returns where to truncate data: inside the file header,
// inside the program headers / load commands, inside every segment with
// file contents, and one byte short.
func cutPoints(t *testing.T, data []byte) []cut {
	t.Helper()
	cuts := []cut{{"inside the header", 10}}
	if runtime.GOOS == "darwin" {
		f, err := macho.NewFile(bytesReader(data))
		require.NoError(t, err)
		cuts = append(cuts, cut{"inside the load commands", 32 + 10})
		for _, l := range f.Loads {
			if s, ok := l.(*macho.Segment); ok && s.Filesz > 0 {
				cuts = append(cuts, cut{"inside segment " + s.Name, int64(s.Offset + s.Filesz/2)})
			}
		}
	} else {
		f, err := elf.NewFile(bytesReader(data))
		require.NoError(t, err)
		phoff := binary.LittleEndian.Uint64(data[0x20:])
		cuts = append(cuts, cut{"inside the program headers", int64(phoff) + 10})
		for i, p := range f.Progs {
			if p.Type == elf.PT_LOAD && p.Filesz > 0 {
				cuts = append(cuts, cut{fmt.Sprintf("inside LOAD segment %d", i), int64(p.Off + p.Filesz/2)})
			}
		}
	}
	return append(cuts, cut{"one byte short", int64(len(data)) - 1})
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}

func bytesReader(b []byte) bytesReaderAt { return bytesReaderAt(b) }

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o755))
	return p
}

// otherArch patches the CPU of a copy of a library: e_machine (ELF) or
// cputype (Mach-O).
func otherArch(data []byte) []byte {
	out := append([]byte(nil), data...)
	if runtime.GOOS == "darwin" {
		cpu := macho.CpuArm64
		if runtime.GOARCH == "arm64" {
			cpu = macho.CpuAmd64
		}
		binary.LittleEndian.PutUint32(out[4:], uint32(cpu))
		return out
	}
	m := elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		m = elf.EM_X86_64
	}
	binary.LittleEndian.PutUint16(out[0x12:], uint16(m))
	return out
}

func TestCheckBadFiles(t *testing.T) {
	good := fake(t, bridgetest.ABI6)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	dir := t.TempDir()
	lib := bridgetest.LibName("mlxc")

	type tc struct {
		name string
		path string
		err  error
		want []string // fragments of the message
	}
	var tests []tc
	for _, c := range cutPoints(t, data) {
		p := write(t, t.TempDir(), lib, data[:c.at])
		tests = append(tests, tc{"truncated " + c.name, p, ErrBadLibrary, []string{"truncated"}})
	}
	tests = append(tests,
		tc{"empty", write(t, t.TempDir(), lib, nil), ErrBadLibrary, []string{"empty file"}},
		tc{"text", write(t, t.TempDir(), lib, []byte("INPUT(-lmlxc)\n")), ErrBadLibrary, []string{"not a shared library"}},
		tc{"wrong architecture", write(t, t.TempDir(), lib, otherArch(data)), ErrBadLibrary, []string{"wrong architecture"}},
		tc{"folder", dir, ErrBadLibrary, []string{"not a regular file"}},
		tc{"missing", filepath.Join(dir, "nope", lib), ErrLoad, []string{"no such file"}},
		tc{"libmlx itself", filepath.Join(filepath.Dir(fake(t, bridgetest.Core)), bridgetest.LibName("mlx")), ErrNotMLXC, []string{"exports none of mlx_set_error_handler"}},
		tc{"older than 0.4", fake(t, bridgetest.ABI3), ErrABI, []string{"older than mlx-c 0.4.0"}},
		tc{"missing symbol", fake(t, bridgetest.NoAstype), ErrSymbol, []string{"mlx_astype"}},
	)
	if runtime.GOOS == "linux" {
		exe := write(t, t.TempDir(), lib, func() []byte {
			out := append([]byte(nil), data...)
			binary.LittleEndian.PutUint16(out[0x10:], uint16(elf.ET_EXEC))
			return out
		}())
		tests = append(tests, tc{"executable", exe, ErrBadLibrary, []string{"not a shared library (ET_EXEC)"}})
		for _, z := range []string{"/lib/x86_64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1"} {
			if _, err := os.Stat(z); err == nil && strings.Contains(z, map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]+"-linux") {
				tests = append(tests, tc{"libz", z, ErrNotMLXC, []string{"not an mlx-c library"}})
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, fn := range []struct {
				name string
				call func() error
			}{
				{"Check", func() error { return Check(tt.path) }},
				{"Load", func() error {
					l, err := Load(tt.path)
					if err == nil {
						_ = l.Close()
					}
					return err
				}},
			} {
				err := fn.call()
				require.ErrorIs(t, err, tt.err, fn.name)
				msg := err.Error()
				assert.NotContains(t, msg, "\n", "%s: one line", fn.name)
				assert.Contains(t, msg, fmt.Sprintf("%q", tt.path), "%s: names the file", fn.name)
				for _, w := range tt.want {
					assert.Contains(t, msg, w, fn.name)
				}
			}
		})
	}
	require.NoError(t, Check(good))
}

// A libmlxc whose libmlx is missing (built against a fake libmlx that is
// then deleted) says how to fix it. This test package never loads a libmlx,
// so the dynamic loader really looks for it.
func TestLoadMissingCore(t *testing.T) {
	p := fake(t, bridgetest.CoreGone)
	core := filepath.Join(filepath.Dir(p), bridgetest.LibName("mlx"))
	require.NoError(t, os.Remove(core))
	_, err := Load(p)
	require.ErrorIs(t, err, ErrLoad)
	msg := err.Error()
	assert.NotContains(t, msg, "\n")
	assert.Contains(t, msg, fmt.Sprintf("%q", p))
	if runtime.GOOS == "darwin" {
		assert.Contains(t, msg, "put libmlx.dylib next to it or set DYLD_LIBRARY_PATH")
	} else {
		assert.Contains(t, msg, "it needs libmlx.so, found neither next to it")
		assert.Contains(t, msg, "put libmlx.so next to it or set LD_LIBRARY_PATH")
	}

	// A truncated libmlx where the loader would find it is refused before
	// dlopen too.
	data, err := os.ReadFile(filepath.Join(filepath.Dir(fake(t, bridgetest.Core)), bridgetest.LibName("mlx")))
	require.NoError(t, err)
	write(t, filepath.Dir(p), bridgetest.LibName("mlx"), data[:len(data)/2])
	err = Check(p)
	require.NoError(t, err, "Check looks at libmlxc only")
	_, err = Load(p)
	require.ErrorIs(t, err, ErrBadLibrary)
	assert.Contains(t, err.Error(), fmt.Sprintf("%q", core))
	assert.Contains(t, err.Error(), "truncated")
	assert.NotContains(t, err.Error(), "\n")
}

// CheckFor judges a file for another platform: the Mach-O / ELF choice
// follows goos, the CPU follows goarch.
func TestCheckForOtherPlatforms(t *testing.T) {
	p := fake(t, bridgetest.ABI6)
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	err := CheckFor(p, runtime.GOOS, other, true)
	require.ErrorIs(t, err, ErrBadLibrary)
	assert.Contains(t, err.Error(), "wrong architecture")
	otherOS := map[string]string{"darwin": "linux", "linux": "darwin"}[runtime.GOOS]
	err = CheckFor(p, otherOS, runtime.GOARCH, true)
	require.ErrorIs(t, err, ErrBadLibrary)
	assert.Regexp(t, `an? (ELF|Mach-O) file, but `+otherOS+` loads`, err.Error())
}
