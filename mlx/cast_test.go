package mlx

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCast(t *testing.T) {
	// 65520 = 0x477FF000 rounds up in bfloat16 and overflows float16;
	// 3e-8 is 0.503 float16 ulps, so it rounds to the smallest subnormal.
	vals := []float32{1, -2.5, 65520, 1.00390625, float32(math.Inf(-1)), 3e-8}
	src := f32Bytes(vals...)

	bf, err := Cast(src, F32, BF16)
	require.NoError(t, err)
	assert.Equal(t, []uint16{0x3f80, 0xc020, 0x4780, 0x3f80, 0xff80, 0x3301}, halves(bf))

	h, err := Cast(src, F32, F16)
	require.NoError(t, err)
	assert.Equal(t, []uint16{0x3c00, 0xc100, 0x7c00, 0x3c04, 0xfc00, 0x0001}, halves(h))

	// float16 → bfloat16 goes through float32: 1.00390625 (0x3C04) is a
	// bfloat16 tie and rounds to even (1.0); the NaN becomes 0x7FC0.
	hb, err := Cast([]byte{0x04, 0x3c, 0x01, 0xfc}, F16, BF16)
	require.NoError(t, err)
	assert.Equal(t, []uint16{0x3f80, 0x7fc0}, halves(hb))

	// float64 rounds to float32 first (double rounding, as MLX does):
	// 1 + 2^-11 + 2^-30 is a float16 tie after the float32 step.
	d := make([]byte, 8)
	binary.LittleEndian.PutUint64(d, math.Float64bits(1+1.0/2048+1.0/(1<<30)))
	dh, err := Cast(d, F64, F16)
	require.NoError(t, err)
	assert.Equal(t, []uint16{0x3c00}, halves(dh))

	back, err := Cast(bf, BF16, F64)
	require.NoError(t, err)
	assert.Equal(t, 1.0, math.Float64frombits(binary.LittleEndian.Uint64(back)))

	same, err := Cast(src, F32, F32)
	require.NoError(t, err)
	assert.Equal(t, src, same)
}

func TestCastErrors(t *testing.T) {
	_, err := Cast(make([]byte, 3), F16, F32)
	assert.ErrorIs(t, err, ErrCast)
	_, err = Cast(make([]byte, 4), I32, F32)
	assert.ErrorIs(t, err, ErrCast)
	assert.ErrorIs(t, err, ErrDType)
	_, err = Cast(make([]byte, 4), F32, F8E4M3)
	assert.ErrorIs(t, err, ErrCast)
	assert.ErrorIs(t, CastInto(make([]byte, 3), make([]byte, 4), F32, F16), ErrCast)
	require.NoError(t, CastInto(make([]byte, 2), make([]byte, 4), F32, F16))
}

// TestCastLarge converts enough elements to run on several workers and
// checks every element against the scalar conversion.
func TestCastLarge(t *testing.T) {
	n := 3*chunkElems + 17
	src := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(src[4*i:], uint32(i)*2654435761)
	}
	prev := SetWorkers(3)
	defer SetWorkers(prev)
	out, err := Cast(src, F32, BF16)
	require.NoError(t, err)
	for i := range n {
		v := math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		require.Equal(t, F32ToBF16(v), binary.LittleEndian.Uint16(out[2*i:]), "element %d", i)
	}
}
