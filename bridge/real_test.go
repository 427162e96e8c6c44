//go:build (darwin || linux) && !ios && !android && (amd64 || arm64) && !nomlx

package bridge

// Tests against a real libmlxc, run only when MLXC_LIBRARY names one
// (developers build it by hand, outside the repository). The byte-exact
// kernel comparisons live in package mlx.

import (
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openReal(t *testing.T) *Lib {
	t.Helper()
	if os.Getenv(EnvLibrary) == "" {
		t.Skip("MLXC_LIBRARY is not set; real-MLX tests run only against a hand-built libmlxc")
	}
	p, err := Find(SystemEnv())
	require.NoError(t, err)
	l, err := Open(p, Options{Device: DeviceCPU})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	t.Logf("%s: MLX %s, mlx-c ABI %s, device %s", l.Path(), l.Version(), l.ABI(), l.Device())
	return l
}

func TestRealLibrary(t *testing.T) {
	l := openReal(t)
	assert.NotEmpty(t, l.Version())

	xs := make([]byte, 4*2*64)
	for i := range 2 * 64 {
		binary.LittleEndian.PutUint32(xs[4*i:], math.Float32bits(float32(i)/16-4))
	}
	w, err := l.FromBytes(xs, []int{2, 64}, Float32)
	require.NoError(t, err)
	qs, err := l.Quantize(w, QuantizeParams{Mode: "affine", GroupSize: 64, Bits: 8})
	require.NoError(t, err)
	require.NoError(t, l.Eval(qs...))
	require.Len(t, qs, 3)
	assert.Equal(t, []int{2, 16}, qs[0].Shape())
	assert.Equal(t, Uint32, qs[0].DType())
	assert.Equal(t, []int{2, 1}, qs[1].Shape())
	d, err := l.Dequantize(qs[0], qs[1], qs[2], QuantizeParams{GroupSize: 64, Bits: 8}, DTypeUnset)
	require.NoError(t, err)
	b, err := d.Bytes()
	require.NoError(t, err)
	for i := range 2 * 64 {
		want := math.Float32frombits(binary.LittleEndian.Uint32(xs[4*i:]))
		got := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		assert.InDelta(t, want, got, 0.02)
	}

	for _, dt := range []DType{Float16, BFloat16} {
		raw := []byte{0x00, 0x3c, 0x00, 0xc0, 0x34, 0x12, 0xff, 0x7b}
		a, err := l.FromBytes(raw, []int{2, 2}, dt)
		require.NoError(t, err)
		got, err := a.Bytes()
		require.NoError(t, err)
		assert.Equal(t, raw, got, "%v", dt)
		f, err := a.AsType(Float32)
		require.NoError(t, err)
		_, err = f.Bytes()
		require.NoError(t, err)
	}

	_, err = l.Quantize(w, QuantizeParams{Mode: "bogus"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Msg, "bogus")
	t.Logf("MLX error as Go error: %v", err)

	_, err = l.Quantize(w, QuantizeParams{GroupSize: 48})
	require.ErrorAs(t, err, &e)
	t.Logf("MLX error as Go error: %v", err)
}
