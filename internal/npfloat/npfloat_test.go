package npfloat_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/mlx"
)

func isNaN32(b uint32) bool { return b&0x7fffffff > 0x7f800000 }

// TestFloatsMatchMLX checks the documented relation to package mlx: the
// conversions agree with mlx's on every non-NaN input (sampled float32 bit
// patterns, including every neighbourhood of a half rounding boundary; all
// 16-bit patterns for the widening direction) and differ only for NaN.
func TestFloatsMatchMLX(t *testing.T) {
	check := func(b uint32) {
		f := math.Float32frombits(b)
		if isNaN32(b) {
			return
		}
		if g, m := npfloat.F32ToF16(f), mlx.F32ToF16(f); g != m {
			t.Fatalf("F32ToF16(%#08x): npfloat %#04x, mlx %#04x", b, g, m)
		}
		if g, m := npfloat.F32ToBF16(f), mlx.F32ToBF16(f); g != m {
			t.Fatalf("F32ToBF16(%#08x): npfloat %#04x, mlx %#04x", b, g, m)
		}
	}
	for b := uint64(0); b < 1<<32; b += 997 {
		check(uint32(b))
	}
	for h := 0; h < 1<<16; h++ {
		b := math.Float32bits(npfloat.F16ToF32(uint16(h)))
		for _, d := range []uint32{0, 1, 0xfff, 0x1000, 0x1001} {
			check(b + d)
			check(b - d)
		}
		for _, d := range []uint32{0, 1, 0x7fff, 0x8000, 0x8001} {
			c := uint32(h) << 16
			check(c + d)
			check(c - d)
		}
		hb := uint16(h)
		g, m := npfloat.F16ToF32(hb), mlx.F16ToF32(hb)
		if hb&0x7c00 == 0x7c00 && hb&0x3ff != 0 {
			require.True(t, math.IsNaN(float64(g)) && math.IsNaN(float64(m)))
		} else {
			require.Equal(t, math.Float32bits(m), math.Float32bits(g), "F16ToF32(%#04x)", h)
		}
		require.Equal(t, math.Float32bits(mlx.BF16ToF32(hb)), math.Float32bits(npfloat.BF16ToF32(hb)))
	}
}

func TestFloatNaN(t *testing.T) {
	for _, tc := range []struct {
		in        uint32
		f16, bf16 uint16
	}{
		{0x7fc00000, 0x7e00, 0x7fc0},
		{0xffc00000, 0xfe00, 0xffc0},
		{0x7f800001, 0x7c01, 0x7fc0}, // payload below the half's mantissa: numpy sets bit 0
		{0x7fa00000, 0x7d00, 0x7fe0},
		{0x7f802000, 0x7c01, 0x7fc0},
		{0xff812345, 0xfc09, 0xffc1},
	} {
		f := math.Float32frombits(tc.in)
		assert.Equal(t, tc.f16, npfloat.F32ToF16(f), "F32ToF16(%#08x)", tc.in)
		assert.Equal(t, tc.bf16, npfloat.F32ToBF16(f), "F32ToBF16(%#08x)", tc.in)
	}
	// Halves widen without quieting (numpy), unlike MLX.
	assert.Equal(t, uint32(0x7f802000), math.Float32bits(npfloat.F16ToF32(0x7c01)))
	assert.Equal(t, uint32(0xffa00000), math.Float32bits(npfloat.F16ToF32(0xfd00)))
	// Overflow and the largest values that still round down.
	assert.Equal(t, uint16(0x7bff), npfloat.F32ToF16(65519.996))
	assert.Equal(t, uint16(0x7c00), npfloat.F32ToF16(65520))
	assert.Equal(t, uint16(0x7f80), npfloat.F32ToBF16(math.MaxFloat32))
	assert.Equal(t, uint16(0x0001), npfloat.F32ToF16(math.Float32frombits(0x33000001)))
	assert.Equal(t, uint16(0x8000), npfloat.F32ToF16(math.Float32frombits(0xb3000000)))
}
