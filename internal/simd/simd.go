package simd

// Enabled reports whether the vector kernels run on this machine. Tests may
// switch it off to exercise the scalar paths of callers; nothing else
// should write it.
var Enabled = hasVector

// blockQ is the number of elements the quantization kernels handle per
// step: group sizes must be multiples of it.
const blockQ = 32

// groupsOK reports whether x holds a whole number of groups of gs elements
// that the kernels can take.
func groupsOK(x []float32, gs int) bool {
	return Enabled && gs > 0 && gs%blockQ == 0 && len(x)%gs == 0
}

// WidenBF16 sets dst[i] to the float32 value of the little-endian bfloat16
// at src[2i:]. It needs len(src) == 2*len(dst), len(dst) a multiple of 16;
// src needs no alignment.
func WidenBF16(dst []float32, src []byte) bool {
	if !Enabled || len(src) != 2*len(dst) || len(dst)%16 != 0 {
		return false
	}
	if len(dst) > 0 {
		widenBF16(&dst[0], &src[0], len(dst))
	}
	return true
}

// WidenF16 is WidenBF16 for float16 (exact; a NaN comes out as some NaN,
// the callers' scalar code decides what a NaN gives).
func WidenF16(dst []float32, src []byte) bool {
	if !Enabled || len(src) != 2*len(dst) || len(dst)%16 != 0 {
		return false
	}
	if len(dst) > 0 {
		widenF16(&dst[0], &src[0], len(dst))
	}
	return true
}

// GroupMinMax sets lo[g] and hi[g] to the smallest and largest element of
// group g (elements g*gs .. g*gs+gs-1 of x). A group holding a NaN gets
// lo[g] = NaN (hi[g] is then unspecified); ±Inf elements take part as
// values. Which zero a group of signed zeros reports is unspecified.
func GroupMinMax(x []float32, gs int, lo, hi []float32) bool {
	if !groupsOK(x, gs) {
		return false
	}
	n := len(x) / gs
	if len(lo) < n || len(hi) < n {
		return false
	}
	if n > 0 {
		groupMinMax(&x[0], n, gs, &lo[0], &hi[0])
	}
	return true
}

// AffineQ4 quantizes groups of gs elements of x to 4 bits and packs them,
// eight per little-endian 32-bit word, into dst (len(x)/2 bytes): element
// j of group g becomes clamp(rint((x - bias[g]) / scale[g]), 0, 15), with
// float32 subtraction and division and rint rounding half to even, as MLX's
// CPU kernel computes it. A NaN or out-of-range int32 quotient gives 0.
func AffineQ4(dst []byte, x []float32, gs int, scale, bias []float32) bool {
	if !groupsOK(x, gs) {
		return false
	}
	n := len(x) / gs
	if len(dst) < len(x)/2 || len(scale) < n || len(bias) < n {
		return false
	}
	if n > 0 {
		affineQ4(&x[0], n, gs, &scale[0], &bias[0], &dst[0])
	}
	return true
}

// AffineQ8 is AffineQ4 writing one byte per element, clamped to [0,
// nbins], unpacked: dst needs len(x) bytes.
func AffineQ8(dst []byte, x []float32, gs int, scale, bias []float32, nbins uint8) bool {
	if !groupsOK(x, gs) {
		return false
	}
	n := len(x) / gs
	if len(dst) < len(x) || len(scale) < n || len(bias) < n {
		return false
	}
	if n > 0 {
		affineQ8(&x[0], n, gs, &scale[0], &bias[0], &dst[0], uint32(nbins)*0x01010101)
	}
	return true
}

// BF16ToF16 converts little-endian bfloat16 values in src to float16 in
// dst, rounding to nearest even (subnormals included, overflow to ±Inf).
// NaN inputs give some NaN: it returns ok and whether src held a NaN, so
// that callers with their own NaN rule can redo those elements. It needs
// len(dst) == len(src), a multiple of 32 bytes (16 values); the slices need
// no alignment.
func BF16ToF16(dst, src []byte) (ok, nan bool) {
	if !Enabled || len(dst) != len(src) || len(src)%32 != 0 {
		return false, false
	}
	if len(src) == 0 {
		return true, false
	}
	return true, bf16ToF16(&dst[0], &src[0], len(src)/2) != 0
}

// AffineScaleBias computes the scale and bias of each group from its
// minimum lo[i] and maximum hi[i] as MLX's CPU kernel does (mlx.affineFinite
// is the definition; only finite lo and hi are meaningful):
//
//	scale = max((hi - lo) / nbins, 1e-7)
//	if |lo| > |hi| { edge = lo } else { edge = hi; scale = -scale }
//	q0 = rint(edge / scale)
//	if q0 != 0 { scale = edge / q0; bias = edge } else { bias = 0 }
//
// All four slices need the same length, a multiple of 8.
func AffineScaleBias(lo, hi, scale, bias []float32, nbins float32) bool {
	n := len(lo)
	if !Enabled || n%8 != 0 || len(hi) != n || len(scale) != n || len(bias) != n {
		return false
	}
	if n > 0 {
		affineScaleBias(&lo[0], &hi[0], &scale[0], &bias[0], n, nbins)
	}
	return true
}

// NarrowBF16 rounds float32 values to bfloat16 bits as MLX does (nearest
// even; any NaN becomes 0x7FC0). It needs len(dst) == len(src), a multiple
// of 8.
func NarrowBF16(dst []uint16, src []float32) bool {
	if !Enabled || len(dst) != len(src) || len(src)%8 != 0 {
		return false
	}
	if len(src) > 0 {
		narrowBF16(&dst[0], &src[0], len(src))
	}
	return true
}

// Q8_0 quantizes x to GGUF Q8_0 blocks in dst (34 bytes per 32 values) as
// gguf-py does: d = max|x| / 127 in float32, each value round-half-away-
// from-zero(x * (1/d)), d stored as float16 (nearest even). A block of
// zeros stores d = 0 and zero quants. It reports false, with dst partly
// written, when it cannot run or when a block holds a NaN or an Inf or has
// a subnormal d: the caller's scalar quantizer then owns the whole input.
func Q8_0(dst []byte, x []float32) bool {
	if !Enabled || len(x)%32 != 0 || len(dst) != len(x)/32*34 {
		return false
	}
	n := len(x) / 32
	if n == 0 {
		return true
	}
	return q8_0(&dst[0], &x[0], n) == n
}
