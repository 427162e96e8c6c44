// Package npfloat converts between float32 and the 16-bit float formats
// (IEEE binary16, bfloat16) exactly as numpy does, which is what gguf-py
// writes. It is shared by package gguf (block quantizers) and the GGUF
// exporter.
//
// These are not package mlx's conversions (mlx/float.go) because the two
// differ for NaN: numpy keeps a NaN's sign and payload, MLX canonicalises
// NaNs. For every non-NaN input they are equal to mlx.F32ToF16,
// mlx.F16ToF32, mlx.F32ToBF16 and mlx.BF16ToF32.
package npfloat

import "math"

// F32ToF16 converts f to IEEE binary16 bits as gguf-py does (numpy
// astype(float16)): round to nearest even including subnormals, overflow to
// ±Inf from 65520. A NaN keeps its sign and the top 10 payload bits,
// 0x7C00|(mantissa>>13), with the lowest bit set when those are all zero
// (numpy's npy_floatbits_to_halfbits). MLX writes sign|0x7D00 for a NaN and
// ggml's C code sign|0x7E00.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN
		h := uint16(0x7c00 | (a&0x7fffff)>>13)
		if h == 0x7c00 {
			h++
		}
		return sign | h
	case a >= 0x477ff000: // |f| >= 65520 (max half + half an ulp) and Inf
		return sign | 0x7c00
	case a >= 0x38800000: // |f| >= 2^-14: a normal half
		// Rebias the exponent (127 -> 15) and round the 23-bit mantissa to
		// 10 bits, ties to even; a carry moves into the exponent.
		a += 0xfff + (a>>13)&1
		return sign | uint16(a>>13-112<<10)
	case a < 0x33000000: // |f| <= 2^-25 rounds to zero (2^-25 is a tie to even 0)
		return sign
	default: // a subnormal half: round the 24-bit significand to a multiple of 2^-24
		e := a >> 23               // 102..112
		m := a&0x7fffff | 0x800000 // value = m * 2^(e-150)
		shift := 126 - e           // value / 2^-24 = m >> shift, shift 14..24
		q := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && q&1 == 1 {
			q++
		}
		return sign | uint16(q)
	}
}

// F16ToF32 converts binary16 bits to float32 exactly as numpy does: a NaN
// keeps its sign and payload (shifted left by 13) and is not quieted (MLX
// quiets it).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	m := uint32(h & 0x3ff)
	switch e {
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | m<<13)
	case 0: // zero or subnormal: m * 2^-24 is exact in float32
		return math.Float32frombits(sign | math.Float32bits(float32(m)*(1.0/(1<<24))))
	}
	return math.Float32frombits(sign | (e+112)<<23 | m<<13)
}

// F32ToBF16 converts f to bfloat16 bits as gguf-py's BF16 quantizer and
// ggml's ggml_compute_fp32_to_bf16 do: round to nearest even, no flush to
// zero, overflow to ±Inf; a NaN keeps its sign and top payload bits and gets
// the quiet bit, (bits>>16)|0x40 (MLX writes 0x7FC0 for every NaN).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BF16ToF32 converts bfloat16 bits to float32 exactly (bits << 16).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
