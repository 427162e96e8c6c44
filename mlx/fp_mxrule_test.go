package mlx

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

// TestMXScaleRules holds MX scale bytes and divisors of MLX 0.32.4's CPU on
// x86 and arm64 (scripts/oracle/arm64/README.md) for amax NaN, ±Inf and
// tiny values, in the vector loop and the scalar tail.
func TestMXScaleRules(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	tiny := float32(6 * math.Ldexp(1, -134)) // e = -134, e+127 = -7
	p134 := float32(math.Ldexp(1, -134))
	for _, c := range []struct {
		amax       float32
		t          DType
		scalar     bool
		x86, arm   uint8
		x86P, armP float32
	}{
		{inf, F32, false, 0x80, 0xff, 0, inf},
		{inf, F32, true, 0x80, 0x00, 0, inf},
		{inf, F16, false, 0x00, 0xff, 0, inf},
		{inf, BF16, false, 0x00, 0xff, 0, inf},
		{nan, F32, false, 0x80, 0x7f, 0, 1},
		{nan, F32, true, 0x80, 0x7f, 0, 1},
		{nan, F16, false, 0x00, 0x7f, 0, 1},
		{nan, BF16, true, 0x00, 0x7f, 0, 1},
		{tiny, F32, false, 0xf9, 0xf9, p134, p134},
		{tiny, F32, true, 0xf9, 0x00, p134, p134},
		{6, F32, true, 127, 127, 1, 1},
		{0, BF16, false, 127, 127, 1, 1},
	} {
		_, p, sb := mxScale(c.amax, c.t, 6, fparith.X86, c.scalar)
		assert.Equal(t, c.x86, sb, "x86 %v %s scalar=%v", c.amax, c.t, c.scalar)
		assert.Equal(t, c.x86P, p, "x86 %v %s", c.amax, c.t)
		_, p, sb = mxScale(c.amax, c.t, 6, fparith.ARM, c.scalar)
		assert.Equal(t, c.arm, sb, "arm %v %s scalar=%v", c.amax, c.t, c.scalar)
		assert.Equal(t, c.armP, p, "arm %v %s", c.amax, c.t)
	}
	assert.Equal(t, 16, mxScalarTail(F32, 21))
	assert.Equal(t, 16, mxScalarTail(BF16, 21))
	assert.Equal(t, 0, mxScalarTail(F16, 21))
}

// TestMXScaleChunk quantizes a tensor whose groups all have amax Inf on the
// ARM rule, whole and in row chunks (Chunk): the bytes agree, the last
// n mod 8 scales (float32) being the scalar tail's.
func TestMXScaleChunk(t *testing.T) {
	defer fparith.SetHost(fparith.ARM)()
	const rows, groups = 7, 3 // 21 scales: 16 vector, 5 scalar
	x := make([]float32, rows*groups*32)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	for g := range rows * groups {
		x[g*32+g%32] = float32(math.Inf(1))
	}
	for _, dt := range []DType{F32, BF16} {
		w := encodeFloats(t, x, dt)
		p := QuantParams{Mode: MXFP8, Bits: 8, GroupSize: 32}
		whole, err := Quantize(w, dt, []int{rows, groups * 32}, p)
		require.NoError(t, err)
		want := make([]byte, rows*groups)
		tail := mxScalarTail(dt, rows*groups)
		for g := range want {
			if want[g] = 0xff; g >= tail {
				want[g] = 0
			}
		}
		require.Equal(t, want, whole.Scales, "%s", dt)
		rb := groups * 32 * dt.Size()
		for r0 := 0; r0 < rows; r0 += 2 {
			r1 := min(r0+2, rows)
			p.Chunk = Chunk{Group: r0 * groups, Groups: rows * groups}
			part, err := Quantize(w[r0*rb:r1*rb], dt, []int{r1 - r0, groups * 32}, p)
			require.NoError(t, err)
			assert.Equal(t, whole.Scales[r0*groups:r1*groups], part.Scales, "%s rows %d..%d", dt, r0, r1)
			assert.Equal(t, whole.Weight[r0*groups*32:r1*groups*32], part.Weight, "%s rows %d..%d", dt, r0, r1)
		}
		p.Chunk = Chunk{Group: 19, Groups: 21}
		_, err = Quantize(w[:2*rb], dt, []int{2, groups * 32}, p)
		require.ErrorIs(t, err, ErrQuant)
	}
}

func encodeFloats(t *testing.T, x []float32, dt DType) []byte {
	t.Helper()
	b, err := Cast(f32Bytes(x...), F32, dt)
	require.NoError(t, err)
	return b
}
