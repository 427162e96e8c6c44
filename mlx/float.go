package mlx

import (
	"math"
	"sync"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

// Scalar float conversions with MLX's exact rounding and NaN rules (the x86
// CPU backend of MLX 0.32; see ../shared/reference/mlxc.md §4.6). Every
// conversion rounds to nearest, ties to even, unless its comment says
// otherwise.

// F32ToF16 converts a float32 to IEEE binary16 bits as MLX's float16 type
// does: round to nearest even (subnormals included), overflow to ±Inf
// (65520 and above), and any NaN to sign|0x7D00.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN
		return sign | 0x7d00
	case a >= 0x477ff000: // |f| >= 65520 rounds to Inf
		return sign | 0x7c00
	case a >= 0x38800000: // |f| >= 2^-14: a normal half
		a += 0xfff + (a>>13)&1
		return sign | uint16((a>>13)-(112<<10))
	default: // subnormal half or zero: round |f| to a multiple of 2^-24
		// Adding 0.5 puts the sum's ulp at 2^-24, so the float32 addition
		// performs the rounding.
		s := math.Float32frombits(a) + 0.5
		return sign | uint16(math.Float32bits(s)-0x3f000000)
	}
}

// F16ToF32 converts binary16 bits to float32 exactly. A NaN keeps its sign
// and payload (shifted left by 13) and gets the quiet bit, as on x86.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	m := uint32(h & 0x3ff)
	switch e {
	case 0x1f:
		if m == 0 {
			return math.Float32frombits(sign | 0x7f800000)
		}
		return math.Float32frombits(sign | 0x7fc00000 | m<<13)
	case 0:
		// Zero or subnormal: m * 2^-24 is exact in float32.
		v := float32(m) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(v))
	}
	return math.Float32frombits(sign | (e+112)<<23 | m<<13)
}

// F32ToBF16 converts a float32 to bfloat16 bits as MLX's bfloat16 type does:
// round to nearest even and any NaN to 0x7FC0 (the sign is dropped).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BF16ToF32 converts bfloat16 bits to float32 exactly (the bits shifted left
// by 16; NaN payloads are kept as they are).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToFP8E4M3 converts a float32 to float8 e4m3fn bits as MLX's to_fp8
// does: round to nearest even, saturating at ±448 (0x7E/0xFE) for |f| >= 464,
// ±Inf and NaN alike (a NaN becomes ±448 with its sign bit).
func F32ToFP8E4M3(f float32) uint8 {
	b := math.Float32bits(f)
	sign := uint8(b>>24) & 0x80
	a := b & 0x7fffffff
	switch {
	case a >= 543<<21: // |f| >= 464, Inf, NaN
		return sign | 0x7e
	case a < 121<<23: // |f| < 2^-6: subnormal e4m3
		// Adding 2^-6 puts the sum's ulp at 2^-9 (the e4m3 subnormal step).
		s := math.Float32frombits(a) + math.Float32frombits(141<<23)
		return sign | uint8(math.Float32bits(s)-141<<23)
	default:
		// Rebias the exponent (127 → 7) and round the mantissa to 3 bits.
		a += 0x7ffff + (a>>20)&1
		a -= 120 << 23
		return sign | uint8(a>>20)
	}
}

// FP8E4M3ToF32 converts float8 e4m3fn bits to float32 exactly as MLX
// 0.32.4's from_fp8 does: 0x7F and 0xFF are NaN (float32 bits 0x7FF00000 and
// 0xFFF00000, i.e. the half 0x7F80 widened); every other byte is finite.
// (MLX 0.31 decoded 0x7F as 480.)
func FP8E4M3ToF32(b uint8) float32 { return fp8Table[b] }

// fp8Table holds FP8E4M3ToF32 for every byte.
var fp8Table = func() (t [256]float32) {
	for i := range t {
		var v float32
		if i&0x7f == 0x7f {
			v = F16ToF32(0x7f80)
		} else {
			// (b&0x7f)<<7 read as a half, times 256: the half's exponent
			// bias 15 becomes e4m3's bias 7.
			v = F16ToF32(uint16(i&0x7f)<<7) * 256
		}
		if i&0x80 != 0 {
			v = -v
		}
		t[i] = v
	}
	return t
}()

// E8M0ToF32 decodes an e8m0 scale byte (a biased power-of-two exponent) as
// MLX does: 2^(b-127), so 0 decodes to 2^-127 and 0xFF to +Inf.
func E8M0ToF32(b uint8) float32 {
	if b == 0xff {
		return float32(math.Inf(1))
	}
	if b == 0 {
		return math.Float32frombits(0x00400000) // 2^-127, a float32 subnormal
	}
	return math.Float32frombits(uint32(b) << 23)
}

// F32ToE8M0 encodes a float32 scale as an e8m0 byte with the rule of MLX's
// Metal kernel since MLX 0.32.4 (ml-explore/mlx#4353, which made MX scales
// round up): ceil(log2(x)), computed exactly, clamped to [-127, 127], plus
// 127. Zero and negative x give 0 and a non-finite x gives 0xFF. (MLX's CPU
// backend computes its scale exponent in the weight's dtype and wraps
// instead of clamping; see QuantizeInto.)
func F32ToE8M0(x float32) uint8 {
	switch {
	case math.IsInf(float64(x), 0) || x != x:
		return 0xff
	case x <= 0:
		// log2(0) = -Inf clamps to -127; negatives are 0 by definition.
		return 0
	}
	n := min(max(int(ceilLog2(x)), -127), 127)
	return uint8(n + 127)
}

// f16Table returns the 65536-entry float16 → float32 table (256 KiB, built
// on first use).
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return t
})

// x86F32ToI32 converts like x86's CVTTSS2SI: truncation toward zero, with
// NaN and out-of-range values becoming math.MinInt32 (fparith.X86).
func x86F32ToI32(f float32) int32 { return fparith.X86.F32ToI32(f) }

// x86F32ToU8 converts a float32 to uint8 as MLX's astype(uint8) does on x86:
// through int32 (x86F32ToI32), keeping the low byte (mxScaleByte).
func x86F32ToU8(f float32) uint8 { return uint8(x86F32ToI32(f)) }
