package gguf

import (
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/internal/fparith"
	"github.com/mlxconv/mlxconv/internal/npfloat"
)

// Float conversions and block quantizers, bit-identical to gguf-py 0.19.0
// (gguf/quants.py, which runs on numpy). All arithmetic is float32 with every
// operation rounded separately, as numpy evaluates it: products that are then
// added are wrapped in float32() so the Go compiler cannot fuse them into an
// FMA (it may on arm64).

// canQuantize reports whether AppendQuantize and AppendDequantize support t:
// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1.
func canQuantize(t Type) bool {
	switch t {
	case F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1:
		return true
	}
	return false
}

// AppendQuantize appends src encoded as type t to dst and returns the extended
// slice. len(src) must be a multiple of t's block size; for block types src
// is a sequence of whole rows or blocks (blocks never span rows because rows
// are multiples of the block size). The output is bit-identical to gguf-py's
// gguf.quants.quantize (F32 and F16 via numpy astype) as it runs on x86-64,
// with two documented exceptions:
//   - block types reject NaN and ±Inf inputs, and Q4_1/Q5_1 blocks whose
//     range overflows float32, with ErrNonFinite (gguf-py's output there
//     carries NaN payloads that depend on numpy's reduction order);
//   - for a Q4_1/Q5_1 block whose minimum or maximum is a zero present with
//     both signs, the sign bit of the stored d or m may differ (numpy's
//     choice depends on the CPU's SIMD width).
//
// Blocks with float32-subnormal scales, where gguf-py converts NaN or
// out-of-range floats to integers, follow numpy on x86-64 (see x86Byte).
func AppendQuantize(dst []byte, t Type, src []float32) ([]byte, error) {
	if !canQuantize(t) {
		return dst, fmt.Errorf("%w: quantizing to %s is not supported", ErrInvalid, t)
	}
	bs := int(t.BlockSize())
	if len(src)%bs != 0 {
		return dst, fmt.Errorf("%w: %d values are not a multiple of the %s block size %d", ErrInvalid, len(src), t, bs)
	}
	nb := len(src) / bs
	start := len(dst)
	dst = grow(dst, nb*int(t.TypeSize()))
	out := dst[start:]
	switch t {
	case F32:
		for i, x := range src {
			le.PutUint32(out[4*i:], math.Float32bits(x))
		}
		return dst, nil
	case F16:
		for i, x := range src {
			le.PutUint16(out[2*i:], npfloat.F32ToF16(x))
		}
		return dst, nil
	case BF16:
		for i, x := range src {
			le.PutUint16(out[2*i:], npfloat.F32ToBF16(x))
		}
		return dst, nil
	}
	quant := map[Type]func([]byte, []float32) error{
		Q8_0: quantizeQ8_0, Q4_0: quantizeQ4_0, Q4_1: quantizeQ4_1, Q5_0: quantizeQ5_0, Q5_1: quantizeQ5_1,
	}[t]
	ts := int(t.TypeSize())
	for b := 0; b < nb; b++ {
		if err := quant(out[b*ts:(b+1)*ts], src[b*bs:(b+1)*bs]); err != nil {
			return dst[:start], fmt.Errorf("%s block %d: %w", t, b, err)
		}
	}
	return dst, nil
}

// AppendDequantize appends the values encoded in src as type t to dst and
// returns the extended slice. len(src) must be a multiple of t's block byte
// size. The output is bit-identical to gguf-py's gguf.quants.dequantize as
// it runs on the same CPU family: a block whose d or m is Inf or NaN makes
// NaNs (0·Inf, Inf−Inf) that are negative on x86 and positive on ARM, as
// numpy's are (see the package doc).
func AppendDequantize(dst []float32, t Type, src []byte) ([]float32, error) {
	if !canQuantize(t) {
		return dst, fmt.Errorf("%w: dequantizing %s is not supported", ErrInvalid, t)
	}
	ts := int(t.TypeSize())
	if len(src)%ts != 0 {
		return dst, fmt.Errorf("%w: %d bytes are not a multiple of the %s block size %d bytes", ErrInvalid, len(src), t, ts)
	}
	nb := len(src) / ts
	bs := int(t.BlockSize())
	start := len(dst)
	dst = growF32(dst, nb*bs)
	out := dst[start:]
	nan := fparith.Host()
	for b := 0; b < nb; b++ {
		blk, y := src[b*ts:(b+1)*ts], out[b*bs:(b+1)*bs]
		switch t {
		case F32:
			y[0] = math.Float32frombits(le.Uint32(blk))
		case F16:
			y[0] = npfloat.F16ToF32(le.Uint16(blk))
		case BF16:
			y[0] = npfloat.BF16ToF32(le.Uint16(blk))
		case Q8_0:
			d := npfloat.F16ToF32(le.Uint16(blk))
			if !finite(d) {
				for j := range 32 {
					y[j] = nan.Mul(float32(int8(blk[2+j])), d)
				}
				continue
			}
			for j := range 32 {
				y[j] = float32(int8(blk[2+j])) * d
			}
		case Q4_0, Q5_0:
			d := npfloat.F16ToF32(le.Uint16(blk))
			q := unpack32(t, blk[2:])
			off := int32(8)
			if t == Q5_0 {
				off = 16
			}
			if !finite(d) {
				for j := range 32 {
					y[j] = nan.Mul(d, float32(int32(q[j])-off))
				}
				continue
			}
			for j := range 32 {
				y[j] = d * float32(int32(q[j])-off)
			}
		case Q4_1, Q5_1:
			// numpy: (d * qs) + m, two rounded operations (never fused).
			d := npfloat.F16ToF32(le.Uint16(blk))
			m := npfloat.F16ToF32(le.Uint16(blk[2:]))
			q := unpack32(t, blk[4:])
			if !finite(d) || !finite(m) {
				for j := range 32 {
					y[j] = nan.Add(nan.Mul(d, float32(q[j])), m)
				}
				continue
			}
			for j := range 32 {
				y[j] = float32(d*float32(q[j])) + m
			}
		}
	}
	return dst, nil
}

// unpack32 returns the 32 unsigned quants of a Q4_x block body (qs[16]) or a
// Q5_x block body (qh[4] then qs[16]). Element j is in the low nibble of
// qs[j%16] for j < 16 and the high nibble for j >= 16; bit 4 of element j is
// bit j of qh read as a little-endian uint32.
func unpack32(t Type, body []byte) (q [32]uint8) {
	var qh uint32
	if t == Q5_0 || t == Q5_1 {
		qh = le.Uint32(body)
		body = body[4:]
	}
	for j := range 16 {
		q[j] = body[j] & 0x0f
		q[j+16] = body[j] >> 4
	}
	for j := range 32 {
		q[j] |= uint8(qh>>j&1) << 4
	}
	return q
}

// pack32 writes 32 quants (each < 32) as a Q4_x or Q5_x block body.
func pack32(t Type, body []byte, q *[32]uint8) {
	if t == Q5_0 || t == Q5_1 {
		var qh uint32
		for j := range 32 {
			qh |= uint32(q[j]>>4) << j
		}
		le.PutUint32(body, qh)
		body = body[4:]
	}
	for j := range 16 {
		body[j] = q[j]&0x0f | q[j+16]<<4
	}
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func growF32(b []float32, n int) []float32 {
	if cap(b)-len(b) < n {
		nb := make([]float32, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

func checkFinite(x []float32) error {
	for j, v := range x {
		if !finite(v) {
			return fmt.Errorf("%w: element %d is %v", ErrNonFinite, j, v)
		}
	}
	return nil
}

// x86Byte converts f to an integer byte the way numpy's astype(uint8) and
// astype(int8) do on x86-64: truncate toward zero to int32 and keep the low
// byte, with NaN, ±Inf and |f| >= 2^31 giving 0 (cvttss2si's 0x80000000).
// gguf-py's quantizers meet out-of-range values only in blocks whose scale
// is a float32 subnormal (|values| below about 1e-37), where 1/d loses
// precision or overflows; this reproduces gguf-py there as it runs on x86-64.
// Go's own float-to-integer conversion is implementation-defined for such
// values.
func x86Byte(f float32) byte {
	if f != f || f >= 1<<31 || f < -(1<<31) {
		return 0
	}
	return byte(int32(f))
}

// inverse returns 1/d, or 0 when d is 0 (numpy: np.where(d == 0, 0, 1 / d)).
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

// quantizeQ8_0 follows gguf-py Q8_0.quantize_blocks (= ggml
// quantize_row_q8_0_ref): d = amax/127, q = round half away from zero of x/d.
func quantizeQ8_0(dst []byte, x []float32) error {
	if err := checkFinite(x); err != nil {
		return err
	}
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d := amax / 127
	id := inverse(d)
	le.PutUint16(dst, npfloat.F32ToF16(d))
	for j, v := range x {
		// np_roundf: |v| rounded half away from zero, with v's sign. The
		// product is a float32, so rounding its float64 widening is exact.
		dst[2+j] = x86Byte(float32(math.Round(float64(v * id))))
	}
	return nil
}

// quantizeSymmetric is Q4_0 (levels 16) and Q5_0 (levels 32), following
// gguf-py: max is the first element of largest magnitude, d = max/-(levels/2),
// q = min(levels-1, trunc(x/d + levels/2 + 0.5)).
func quantizeSymmetric(t Type, dst []byte, x []float32, levels int) error {
	if err := checkFinite(x); err != nil {
		return err
	}
	// numpy argmax: the first index of the largest |x| (so an all-zero block
	// takes x[0], keeping its sign).
	amax, vmax := float32(math.Abs(float64(x[0]))), x[0]
	for _, v := range x[1:] {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, vmax = a, v
		}
	}
	half := float32(levels / 2)
	d := vmax / -half
	id := inverse(d)
	var q [32]uint8
	for j, v := range x {
		f := float32(v*id) + (half + 0.5)
		q[j] = min(uint8(levels-1), x86Byte(f))
	}
	le.PutUint16(dst, npfloat.F32ToF16(d))
	pack32(t, dst[2:], &q)
	return nil
}

// quantizeAffine is Q4_1 (levels 16) and Q5_1 (levels 32), following gguf-py:
// d = (max-min)/(levels-1), q = min(levels-1, trunc((x-min)/d + 0.5)), with
// d and min stored as fp16 (q uses the unrounded float32 d and min).
func quantizeAffine(t Type, dst []byte, x []float32, levels int) error {
	if err := checkFinite(x); err != nil {
		return err
	}
	// When the smallest (largest) value is a zero present with both signs,
	// numpy's SIMD reduction returns either sign depending on the CPU and
	// the zeros' positions; Go's min/max order -0 below +0. Only the sign
	// bit of the stored fp16 d or m can differ then, and dequantized values
	// only in the sign of a zero.
	vmin, vmax := x[0], x[0]
	for _, v := range x[1:] {
		vmin, vmax = min(vmin, v), max(vmax, v)
	}
	d := (vmax - vmin) / float32(levels-1)
	if !finite(d) {
		return fmt.Errorf("%w: block range %v..%v overflows float32", ErrNonFinite, vmin, vmax)
	}
	id := inverse(d)
	var q [32]uint8
	for j, v := range x {
		f := float32((v-vmin)*id) + 0.5
		q[j] = min(uint8(levels-1), x86Byte(f))
	}
	le.PutUint16(dst, npfloat.F32ToF16(d))
	le.PutUint16(dst[2:], npfloat.F32ToF16(vmin))
	pack32(t, dst[4:], &q)
	return nil
}

func quantizeQ4_0(dst []byte, x []float32) error { return quantizeSymmetric(Q4_0, dst, x, 16) }
func quantizeQ5_0(dst []byte, x []float32) error { return quantizeSymmetric(Q5_0, dst, x, 32) }
func quantizeQ4_1(dst []byte, x []float32) error { return quantizeAffine(Q4_1, dst, x, 16) }
func quantizeQ5_1(dst []byte, x []float32) error { return quantizeAffine(Q5_1, dst, x, 32) }
