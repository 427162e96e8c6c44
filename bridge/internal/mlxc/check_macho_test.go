package mlxc

// The Mach-O side of the check, exercised on any host with a darwin
// executable built by the Go toolchain (CGO_ENABLED=0): its file type is
// patched to MH_DYLIB, it is cut, its CPU changed, and it is wrapped in a
// universal file.

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func darwinDylib(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644))
	out := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(data[12:], uint32(macho.TypeDylib))
	return data
}

// fat wraps a thin file in a universal header with one entry per cpu,
// all pointing at the same bytes.
func fat(thin []byte, size uint32, cpus ...macho.Cpu) []byte {
	const off = 0x4000
	h := make([]byte, off)
	be := binary.BigEndian
	be.PutUint32(h, macho.MagicFat)
	be.PutUint32(h[4:], uint32(len(cpus)))
	for i, cpu := range cpus {
		e := h[8+20*i:]
		be.PutUint32(e, uint32(cpu))
		be.PutUint32(e[8:], off)
		be.PutUint32(e[12:], size)
		be.PutUint32(e[16:], 14)
	}
	return append(h, thin...)
}

func TestCheckMachO(t *testing.T) {
	data := darwinDylib(t)
	f, err := macho.NewFile(bytes.NewReader(data))
	require.NoError(t, err)
	var seg *macho.Segment
	for _, l := range f.Loads {
		if s, ok := l.(*macho.Segment); ok && s.Name == "__DATA" {
			seg = s
		}
	}
	require.NotNil(t, seg)

	dir := t.TempDir()
	tests := []struct {
		name   string
		data   []byte
		goarch string
		err    error
		want   string
	}{
		{"valid, not mlx-c", data, "arm64", ErrNotMLXC, "exports none of"},
		{"universal, not mlx-c", fat(data, uint32(len(data)), macho.CpuAmd64, macho.CpuArm64), "arm64", ErrNotMLXC, "exports none of"},
		{"universal without the slice", fat(data, uint32(len(data)), macho.CpuArm64), "amd64", ErrBadLibrary, "wrong architecture: universal file for CpuArm64, need CpuAmd64"},
		{"universal slice of another CPU", fat(data, uint32(len(data)), macho.CpuAmd64), "amd64", ErrBadLibrary, "wrong architecture: CpuArm64, need CpuAmd64"},
		{"wrong architecture", data, "amd64", ErrBadLibrary, "wrong architecture: CpuArm64, need CpuAmd64"},
		{"truncated header", data[:20], "arm64", ErrBadLibrary, "truncated"},
		{"truncated load commands", data[:100], "arm64", ErrBadLibrary, "truncated: load commands end"},
		{"truncated segment", data[:seg.Offset+seg.Filesz/2], "arm64", ErrBadLibrary, "truncated: segment __DATA ends"},
		{"truncated universal slice", fat(data, uint32(len(data)), macho.CpuArm64)[:0x4000+len(data)/2], "arm64", ErrBadLibrary, "truncated: the CpuArm64 slice ends"},
		{"ELF on darwin", []byte("\x7fELF\x02\x01\x01\x00more"), "arm64", ErrBadLibrary, "an ELF file, but darwin loads Mach-O"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".dylib")
			require.NoError(t, os.WriteFile(p, tt.data, 0o644))
			err := CheckFor(p, "darwin", tt.goarch, true)
			require.ErrorIs(t, err, tt.err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	exe := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(exe[12:], uint32(macho.TypeExec))
	p := filepath.Join(dir, "exe")
	require.NoError(t, os.WriteFile(p, exe, 0o755))
	err = CheckFor(p, "darwin", "arm64", true)
	require.ErrorIs(t, err, ErrBadLibrary)
	assert.Contains(t, err.Error(), "not a shared library (Exec)")
}
