package ggufexport

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/simd"
	"github.com/mlxconv/mlxconv/mlx"
)

// TestQuantizeQ8_0Fast holds the export's Q8_0 fast path byte-equal to
// AppendQuantize (gguf-py's quantizer) on random blocks, exact rounding
// ties, zeros of both signs, tiny and huge magnitudes, and refuses the
// blocks it does not handle.
func TestQuantizeQ8_0Fast(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var blocks [][]float32
	for range 20000 {
		b := make([]float32, 32)
		scale := float32(math.Pow(2, float64(r.IntN(200)-100)))
		for j := range b {
			b[j] = (r.Float32()*2 - 1) * scale
		}
		switch r.IntN(6) {
		case 0: // exact ties: x/d = k + 0.5 with d = amax/127
			d := b[0] / 127
			for j := 1; j < 32; j++ {
				b[j] = d * (float32(r.IntN(254)-127) + 0.5)
			}
		case 1:
			b[r.IntN(32)] = float32(math.Copysign(0, -1))
		case 2:
			for j := range b {
				b[j] = 0
			}
		}
		blocks = append(blocks, b)
	}
	// With the vector kernel and without.
	for _, vec := range []bool{true, false} {
		prev := simd.Enabled
		simd.Enabled = prev && vec
		handled := 0
		var all []float32
		var allWant []byte
		for i, b := range blocks {
			want, wantErr := gguf.AppendQuantize(nil, gguf.Q8_0, b)
			got := make([]byte, 34)
			if !quantizeQ8_0Fast(got, b) {
				continue
			}
			handled++
			require.NoError(t, wantErr)
			require.Equal(t, want, got, "vector %v block %d: %v", vec, i, b)
			all, allWant = append(all, b...), append(allWant, want...)
		}
		require.Greater(t, handled, 15000)
		// All handled blocks in one call.
		got := make([]byte, len(allWant))
		require.True(t, quantizeQ8_0Fast(got, all))
		require.Equal(t, allWant, got, "vector %v", vec)
		for _, bad := range [][]float32{{float32(math.NaN())}, {float32(math.Inf(-1))}, {1e-44}} {
			b := make([]float32, 64)
			copy(b[32:], bad)
			b[0] = 1
			require.False(t, quantizeQ8_0Fast(make([]byte, 68), b), bad)
		}
		simd.Enabled = prev
	}
}

// TestConvertDirectMatchesGeneral holds the table-driven float conversions
// equal to the float32 round trip for every 16-bit input.
func TestConvertDirectMatchesGeneral(t *testing.T) {
	src := make([]byte, 2<<16)
	for i := range 1 << 16 {
		src[2*i], src[2*i+1] = byte(i), byte(i>>8)
	}
	for _, from := range []struct {
		dt  mlx.DType
		get func(h uint16) float32
	}{{mlx.BF16, npfloat.BF16ToF32}, {mlx.F16, npfloat.F16ToF32}} {
		x := make([]float32, 1<<16)
		for i := range x {
			x[i] = from.get(uint16(i))
		}
		for _, to := range []gguf.Type{gguf.F32, gguf.F16, gguf.BF16} {
			got, ok := convertDirect(src, from.dt, to, 1<<16)
			require.True(t, ok)
			want, err := gguf.AppendQuantize(nil, to, x)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s -> %s", from.dt, to)
		}
	}
}

// TestConvertDirectBF16F16Vector converts every bfloat16 value to F16 with
// the vector kernel and without (NaN-free input takes the kernel, input
// with NaNs the table): both give gguf-py's bytes, F32ToF16(BF16ToF32(h)).
func TestConvertDirectBF16F16Vector(t *testing.T) {
	all := make([]byte, 0, 2<<16)
	finite := make([]byte, 0, 2<<16)
	for i := range 1 << 16 {
		all = binary.LittleEndian.AppendUint16(all, uint16(i))
		if v := npfloat.BF16ToF32(uint16(i)); v == v {
			finite = binary.LittleEndian.AppendUint16(finite, uint16(i))
		}
	}
	for _, src := range [][]byte{all, finite, finite[:2*1001], finite[:2*7]} {
		for _, on := range []bool{true, false} {
			prev := simd.Enabled
			simd.Enabled = prev && on
			out, ok := convertDirect(src, mlx.BF16, gguf.F16, len(src)/2)
			simd.Enabled = prev
			require.True(t, ok)
			for i := 0; i < len(src); i += 2 {
				h := binary.LittleEndian.Uint16(src[i:])
				require.Equal(t, npfloat.F32ToF16(npfloat.BF16ToF32(h)), binary.LittleEndian.Uint16(out[i:]), "bf16 %#04x vector %v", h, on)
			}
		}
	}
}
