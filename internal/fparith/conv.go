package fparith

import "math"

// Float-to-integer conversions of NaN, ±Inf and out-of-range values are
// undefined in C and C++, and compiled code inherits the CPU's answer:
//
//   - x86 (CVTTSS2SI) returns the "integer indefinite" value, MinInt32 for
//     a 32-bit result, and a conversion to uint32 goes through the 64-bit
//     CVTTSS2SI, whose indefinite value MinInt64 has a zero low word;
//   - ARM (FCVTZS, FCVTZU) saturates to the integer type's range, and
//     converts NaN to 0.
//
// In range, both truncate toward zero.

// F32ToI32 converts f to int32 truncating toward zero, with NaN and
// out-of-range values converted as r's CPU does: MinInt32 on x86; on ARM
// NaN gives 0 and the others saturate (+Inf and ≥ 2^31 give MaxInt32).
func (r Rule) F32ToI32(f float32) int32 {
	d := float64(f)
	if d > -2147483649 && d < 2147483648 {
		return int32(d)
	}
	if !r.SaturatingConv {
		return math.MinInt32
	}
	switch {
	case f != f:
		return 0
	case d > 0:
		return math.MaxInt32
	}
	return math.MinInt32
}

// F32ToU32 converts f to uint32 truncating toward zero, with NaN and
// out-of-range values converted as r's CPU does: on x86 the low word of the
// 64-bit conversion (negative values in (-2^63, -1] wrap modulo 2^32, NaN
// and |f| ≥ 2^63 give 0); on ARM NaN and negative values give 0, values
// ≥ 2^32 (and +Inf) MaxUint32.
func (r Rule) F32ToU32(f float32) uint32 {
	d := float64(f)
	if d > -1 && d < 4294967296 {
		return uint32(d)
	}
	if r.SaturatingConv {
		if d > 0 {
			return math.MaxUint32
		}
		return 0 // NaN, negative
	}
	if d >= -9223372036854775808.0 && d < 9223372036854775808.0 {
		return uint32(int64(d))
	}
	return 0 // NaN, out of int64's range: MinInt64's low word
}
