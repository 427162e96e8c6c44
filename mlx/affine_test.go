package mlx

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// f32Bytes encodes vals as little-endian float32.
func f32Bytes(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// bf16Bytes encodes vals as little-endian bfloat16 (rounded).
func bf16Bytes(vals ...float32) []byte {
	b := make([]byte, 2*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint16(b[2*i:], F32ToBF16(v))
	}
	return b
}

// group32 returns vals padded with fill to 32 elements.
func group32(fill float32, vals ...float32) []float32 {
	g := make([]float32, 32)
	for i := range g {
		g[i] = fill
	}
	copy(g, vals)
	return g
}

func words(b []byte) []uint32 {
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

func halves(b []byte) []uint16 {
	h := make([]uint16, len(b)/2)
	for i := range h {
		h[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return h
}

// TestAffineHandComputed checks single 4-bit groups whose results follow
// from the algorithm by hand (the CPU expectations were also confirmed
// with MLX 0.32.4's mx.quantize).
func TestAffineHandComputed(t *testing.T) {
	for _, tc := range []struct {
		name        string
		r           Rounding
		in          []byte
		dt          DType
		wq          []uint32
		scale, bias uint32 // bit patterns in dt
	}{
		{
			// max 15, min 0: scale = -1, bias = 15, q = rint(15 - x).
			// 14.5, 13.5, 12.5, 11.5 round to even: 14, 14, 12, 12.
			name: "ties round to even (cpu)", r: RoundingCPU, dt: F32,
			in: f32Bytes(group32(0, 0, 15, 0.5, 1.5, 2.5, 3.5, 14.5, 7)...),
			wq: []uint32{0x80ccee0f, 0xffffffff, 0xffffffff, 0xffffffff}, scale: 0xbf800000, bias: 0x41700000,
		},
		{
			// Metal rounds the same halves away from zero: 15, 14, 13, 12
			// and 0.5 → 1.
			name: "ties round away (metal)", r: RoundingMetal, dt: F32,
			in: f32Bytes(group32(0, 0, 15, 0.5, 1.5, 2.5, 3.5, 14.5, 7)...),
			wq: []uint32{0x81cdef0f, 0xffffffff, 0xffffffff, 0xffffffff}, scale: 0xbf800000, bias: 0x41700000,
		},
		{
			// max -1, min -4: |min| wins, scale = 3/15 = 0.2, q0 = -20, bias = -4.
			name: "all negative (cpu)", r: RoundingCPU, dt: F32,
			in: f32Bytes(group32(-1, -4, -1, -3)...),
			wq: []uint32{0xfffff5f0, 0xffffffff, 0xffffffff, 0xffffffff}, scale: 0x3e4ccccd, bias: 0xc0800000,
		},
		{
			// Metal's max starts at 0: scale = 4/15, bias = -4,
			// q(-1) = round(11.25) = 11, q(-3) = round(3.75) = 4.
			name: "all negative (metal)", r: RoundingMetal, dt: F32,
			in: f32Bytes(group32(-1, -4, -1, -3)...),
			wq: []uint32{0xbbbbb4b0, 0xbbbbbbbb, 0xbbbbbbbb, 0xbbbbbbbb}, scale: 0x3e888889, bias: 0xc0800000,
		},
		{
			// All zero: q0 = 0, scale = -eps stored as bfloat16 0xB3D7.
			name: "zeros bf16 (cpu)", r: RoundingCPU, dt: BF16,
			in: bf16Bytes(group32(0)...),
			wq: []uint32{0, 0, 0, 0}, scale: 0xb3d7, bias: 0,
		},
		{
			name: "zeros bf16 (metal)", r: RoundingMetal, dt: BF16,
			in: bf16Bytes(group32(0)...),
			wq: []uint32{0, 0, 0, 0}, scale: 0xb3d7, bias: 0,
		},
		{
			// Constant 0.75: scale = 0.75/rint(0.75/-1e-7) (≈ -1e-7),
			// bias = 0.75, all q = 0.
			name: "constant", r: RoundingCPU, dt: F32,
			in: f32Bytes(group32(0.75)...),
			wq: []uint32{0, 0, 0, 0}, scale: 0xb3d6bf95, bias: 0x3f400000,
		},
		{
			// Constant -3.5 on the CPU: max == min, scale = -eps signed by
			// the mask (false), q0 = rint(-3.5/-1e-7) = 35000000, scale =
			// -3.5/q0 ≈ -1e-7, bias = -3.5.
			name: "negative constant (cpu)", r: RoundingCPU, dt: F32,
			in: f32Bytes(group32(-3.5)...),
			wq: []uint32{0, 0, 0, 0}, scale: 0xb3d6bf95, bias: 0xc0600000,
		},
		{
			// On Metal the max starts at 0: range 3.5, scale = 3.5/15,
			// q0 = round(-15) = -15, bias = -3.5, all q = 0.
			name: "negative constant (metal)", r: RoundingMetal, dt: F32,
			in: f32Bytes(group32(-3.5)...),
			wq: []uint32{0, 0, 0, 0}, scale: 0x3e6eeeef, bias: 0xc0600000,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := QuantParams{Mode: Affine, Bits: 4, GroupSize: 32, Rounding: tc.r}
			q, err := Quantize(tc.in, tc.dt, []int{1, 32}, p)
			require.NoError(t, err)
			assert.Equal(t, tc.wq, words(q.Weight))
			assert.Equal(t, []int{1, 4}, q.WeightShape)
			assert.Equal(t, []int{1, 1}, q.ScaleShape)
			assert.Equal(t, tc.dt, q.ScaleDType)
			if tc.dt == F32 {
				assert.Equal(t, []uint32{tc.scale}, words(q.Scales))
				assert.Equal(t, []uint32{tc.bias}, words(q.Biases))
			} else {
				assert.Equal(t, []uint16{uint16(tc.scale)}, halves(q.Scales))
				assert.Equal(t, []uint16{uint16(tc.bias)}, halves(q.Biases))
			}
		})
	}
}

func TestAffineDequantize(t *testing.T) {
	p := QuantParams{Mode: Affine, Bits: 4, GroupSize: 32}
	q, err := Quantize(f32Bytes(group32(0, 0, 15, 0.5, 1.5, 2.5, 3.5, 14.5, 7)...), F32, []int{1, 32}, p)
	require.NoError(t, err)
	out, err := Dequantize(q, p, Invalid)
	require.NoError(t, err)
	assert.Equal(t, f32Bytes(group32(0, 0, 15, 1, 1, 3, 3, 15, 7)...), out)

	// bfloat16 scale 1.0078125 (0x3F81), bias -3, q = 3: q*scale =
	// 3.0234375 rounds (tie, to even) to 3.03125 in bfloat16 before the
	// bias is added, so the result is 0.03125, not the fused 0.0234375.
	q = Quantized{
		Weight:      []byte{0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33},
		WeightShape: []int{1, 4},
		Scales:      []byte{0x81, 0x3f}, Biases: []byte{0x40, 0xc0}, ScaleShape: []int{1, 1}, ScaleDType: BF16,
	}
	out, err = Dequantize(q, p, Invalid)
	require.NoError(t, err)
	for _, h := range halves(out) {
		require.Equal(t, uint16(0x3d00), h)
	}
	out, err = Dequantize(q, p, F32) // computed in bfloat16, then widened
	require.NoError(t, err)
	for _, w := range words(out) {
		require.Equal(t, math.Float32bits(0.03125), w)
	}
	// Exact round trips through the per-group lookup table (3 bits) and
	// the direct path (8 bits): multiples of 0.25 spanning every level.
	for _, bits := range []int{3, 8} {
		p := QuantParams{Mode: Affine, Bits: bits, GroupSize: 32}
		vals := make([]float32, 32)
		for i := range vals {
			vals[i] = float32(i%(1<<bits)) * 0.25
		}
		vals[31] = float32(int(1)<<bits-1) * 0.25
		q, err := Quantize(bf16Bytes(vals...), BF16, []int{1, 32}, p)
		require.NoError(t, err)
		out, err := Dequantize(q, p, F16)
		require.NoError(t, err)
		for i, h := range halves(out) {
			require.Equal(t, vals[i], F16ToF32(h), "bits %d element %d", bits, i)
		}
	}
}

// TestAffineOneBit: MLX's 1-bit rule (scale max−min, bias min, no
// zero-point adjustment; the kernel oracle checks it against mx.quantize).
func TestAffineOneBit(t *testing.T) {
	nan := nanRule(RoundingCPU)
	for _, tc := range []struct {
		lo, hi, scale, bias float32
	}{
		{-2.5, 2, 4.5, -2.5},
		{1, 3, 2, 1}, // all positive: bias the minimum, not 0
		{-3, -1, 2, -3},
		{0.5, 0.5, affineEps, 0.5}, // constant group: eps
	} {
		for _, metal := range []bool{false, true} {
			s, b := affineFromRange(tc.lo, tc.hi, 1, metal, nan)
			assert.Equal(t, tc.scale, s, "%v metal=%v", tc, metal)
			assert.Equal(t, tc.bias, b, "%v metal=%v", tc, metal)
		}
	}
	w := f32Bytes(group32(-1, 2, 0.6, 0.4, -1)...) // threshold (max+min)/2 = 0.5
	q, err := Quantize(w, F32, []int{1, 32}, QuantParams{Mode: Affine, Bits: 1, GroupSize: 32})
	require.NoError(t, err)
	assert.Equal(t, []uint32{0b011}, words(q.Weight))
}
