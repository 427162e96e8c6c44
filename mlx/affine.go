package mlx

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/mlxconv/mlxconv/internal/fparith"
	"github.com/mlxconv/mlxconv/internal/simd"
)

// Affine quantization kernels (mlxc.md §4.3 and §4.5). All arithmetic is
// float32 on exactly widened inputs, as in MLX's CPU kernel; scales and
// biases are rounded to the weight dtype only when stored.

// affineEps is MLX's lower bound on |scale| (float eps = 1e-7).
const affineEps = float32(1e-7)

// maxFinite returns float32(Limits<T>::max) for T = dt: the start value of
// w_min in MLX's Metal affine kernel.
func maxFinite(dt DType) float32 {
	switch dt {
	case BF16:
		return BF16ToF32(0x7f7f)
	case F16:
		return 65504
	}
	return math.MaxFloat32
}

// affineScaleBias computes one group's float32 scale and bias. CPU rules:
// the max starts at -Inf and the min at +Inf, q0 rounds half to even. Metal
// rules: the max starts at 0 and the min at the dtype's largest finite
// value, q0 rounds half away from zero. It handles every input (NaN
// elements are skipped, as std::max/std::min with the accumulator first
// skip them); affineFinite is the faster equivalent for finite groups. A
// NaN the arithmetic creates (Inf−Inf, Inf/Inf) follows nan.
func affineScaleBias(x []float32, nbins float32, metal bool, minStart float32, nan fparith.Rule) (scale, bias float32) {
	wmax, wmin := float32(math.Inf(-1)), float32(math.Inf(1))
	if metal {
		wmax, wmin = 0, minStart
	}
	for _, v := range x {
		if wmax < v {
			wmax = v
		}
		if v < wmin {
			wmin = v
		}
	}
	return affineFromRange(wmin, wmax, nbins, metal, nan)
}

// affineFromRange finishes affineScaleBias from the group's range. Only a
// non-finite range can make a NaN here (all +Inf or all −Inf elements:
// Inf−Inf; one infinite edge: Inf/Inf); nan decides its sign.
func affineFromRange(wmin, wmax, nbins float32, metal bool, nan fparith.Rule) (scale, bias float32) {
	if nbins == 1 {
		// MLX's 1-bit rule: bit 0 is the group's minimum, bit 1 its
		// maximum (no zero-point adjustment).
		scale = nan.Sub(wmax, wmin)
		if scale < affineEps { // std::max(scale, eps)
			scale = affineEps
		}
		return scale, wmin
	}
	mask := abs32(wmin) > abs32(wmax)
	scale = nan.Div(nan.Sub(wmax, wmin), nbins)
	if scale < affineEps { // std::max(scale, eps)
		scale = affineEps
	}
	edge := wmax
	if mask {
		edge = wmin
	} else {
		scale = -scale
	}
	var q0 float32
	if metal {
		q0 = float32(math.Round(float64(nan.Div(edge, scale))))
	} else {
		q0 = float32(math.RoundToEven(float64(nan.Div(edge, scale))))
	}
	if q0 != 0 { // true for NaN as well
		scale = nan.Div(edge, q0)
		bias = edge
	}
	return scale, bias
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// finite32 reports whether v is neither infinite nor NaN.
func finite32(v float32) bool { return math.Float32bits(v)&0x7f800000 != 0x7f800000 }

// minMax returns the smallest and largest element; a NaN element makes both
// NaN (Go's min and max propagate NaNs, branch-free).
// Four independent accumulator pairs break the loop-carried dependency;
// len(x) must be a multiple of 4.
func minMax(x []float32) (lo, hi float32) {
	l0, l1, l2, l3 := x[0], x[1], x[2], x[3]
	h0, h1, h2, h3 := l0, l1, l2, l3
	for j := 4; j+4 <= len(x); j += 4 {
		v := x[j : j+4 : j+4]
		l0, h0 = min(l0, v[0]), max(h0, v[0])
		l1, h1 = min(l1, v[1]), max(h1, v[1])
		l2, h2 = min(l2, v[2]), max(h2, v[2])
		l3, h3 = min(l3, v[3]), max(h3, v[3])
	}
	return min(l0, l1, l2, l3), max(h0, h1, h2, h3)
}

// affineFinite is affineScaleBias for a group without NaN or Inf, given
// its minimum and maximum. (Signed zeros may differ from std::max's choice,
// which changes neither scale nor bias.)
func affineFinite(lo, hi, nbins float32, metal bool, nan fparith.Rule) (scale, bias float32) {
	if metal {
		// Metal's max starts at 0; its min's start value (the dtype's
		// largest finite value) cannot be below a finite element.
		hi = max(hi, 0)
	}
	return affineFromRange(lo, hi, nbins, metal, nan)
}

// rintMagic is 1.5*2^23: for |v| < 2^22, v + rintMagic has an ulp of 1, so
// the addition rounds v to an integer, ties to even, and the float's low
// bits hold that integer offset by rintMagicBits.
const (
	rintMagic     = 0x1.8p23
	rintMagicBits = 0x4b400000
)

// affineQuantFast computes the q values of a finite group. Every quotient
// is within [-1, nbins+1] there (see affineFinite), so the integer clamp
// after rounding equals MLX's clamp before the conversion.
func affineQuantFast(q []uint8, x []float32, scale, bias float32, nbins int32, metal bool) {
	q = q[:len(x)]
	for j, v := range x {
		v = (v - bias) / scale
		r := int32(math.Float32bits(v+rintMagic) - rintMagicBits)
		if metal && v-float32(r) == 0.5 {
			r++ // Metal's round() takes halves away from zero
		}
		q[j] = uint8(min(max(r, 0), nbins))
	}
}

// affineQuantFast4 is affineQuantFast (CPU rounding) for 4 bits, packing
// eight values per little-endian word as it goes.
func affineQuantFast4(out []byte, x []float32, scale, bias float32) {
	out = out[:len(x)/2]
	for j := 0; j+8 <= len(x); j += 8 {
		v := x[j : j+8 : j+8]
		w := q4(v[0], scale, bias) | q4(v[1], scale, bias)<<4 | q4(v[2], scale, bias)<<8 |
			q4(v[3], scale, bias)<<12 | q4(v[4], scale, bias)<<16 | q4(v[5], scale, bias)<<20 |
			q4(v[6], scale, bias)<<24 | q4(v[7], scale, bias)<<28
		binary.LittleEndian.PutUint32(out[j/2:], w)
	}
}

// q4 is one 4-bit value of affineQuantFast4.
func q4(v, scale, bias float32) uint32 {
	r := int32(math.Float32bits((v-bias)/scale+rintMagic) - rintMagicBits)
	return uint32(min(max(r, 0), 15))
}

// loadMinMaxBF16 widens the bfloat16 group h into x and returns its
// minimum and maximum as minMax does.
func loadMinMaxBF16(x []float32, h []uint16) (lo, hi float32) {
	x = x[:len(h)]
	l0, l1, l2, l3 := BF16ToF32(h[0]), BF16ToF32(h[1]), BF16ToF32(h[2]), BF16ToF32(h[3])
	h0, h1, h2, h3 := l0, l1, l2, l3
	for j := 0; j+4 <= len(h); j += 4 {
		v := h[j : j+4 : j+4]
		a, b, c, d := BF16ToF32(v[0]), BF16ToF32(v[1]), BF16ToF32(v[2]), BF16ToF32(v[3])
		x[j], x[j+1], x[j+2], x[j+3] = a, b, c, d
		l0, h0 = min(l0, a), max(h0, a)
		l1, h1 = min(l1, b), max(h1, b)
		l2, h2 = min(l2, c), max(h2, c)
		l3, h3 = min(l3, d), max(h3, d)
	}
	return min(l0, l1, l2, l3), max(h0, h1, h2, h3)
}

// affineQuantCPU computes q = clamp(rint((x-bias)/scale), 0, nbins) as MLX's
// CPU kernel does, for any input. A NaN quotient gives 0, as MLX's float →
// uint64 conversion leaves no bits in the packed range.
func affineQuantCPU(q []uint8, x []float32, scale, bias, nbins float32) {
	q = q[:len(x)]
	for j, v := range x {
		v = (v - bias) / scale
		var r uint8
		if v >= nbins {
			r = uint8(nbins)
		} else if v > 0 {
			r = uint8(math.Float32bits(v+rintMagic) - rintMagicBits)
		}
		q[j] = r
	}
}

// affineQuantMetal computes q = min(round((x-bias)/scale), nbins) with
// round half away from zero, as MLX's Metal kernel does (negative and NaN
// quotients, which that kernel leaves to the GPU's float → uint8 conversion,
// give 0).
func affineQuantMetal(q []uint8, x []float32, scale, bias, nbins float32) {
	q = q[:len(x)]
	for j, v := range x {
		v = (v - bias) / scale
		var r uint8
		if v >= nbins {
			r = uint8(nbins)
		} else if v > 0 {
			t := int32(v)
			if v-float32(t) >= 0.5 { // exact: v < 2^8
				t++
			}
			r = uint8(t)
		}
		q[j] = r
	}
}

type affineQuantKernel struct {
	dt         DType
	p          QuantParams
	groupBytes int
	w          []byte
	wq         []byte
	scales     []byte
	biases     []byte
	f16        *[1 << 16]float32
	nan        fparith.Rule
}

func (k *affineQuantKernel) prepare() {
	if k.dt == F16 {
		k.f16 = f16Table()
	}
	k.nan = nanRule(k.p.Rounding)
}

// run quantizes groups [lo, hi).
func (k affineQuantKernel) run(lo, hi int) {
	if k.vectorOK() {
		k.runVector(lo, hi)
		return
	}
	k.runScalar(lo, hi)
}

// vectorOK reports whether runVector can take the kernel: CPU rounding, a
// group size the vector kernels take, more than one bit (simd's scale and
// bias follow the n-bit rule) and a float input simd can widen.
func (k affineQuantKernel) vectorOK() bool {
	return simd.Enabled && k.p.Rounding != RoundingMetal && k.p.GroupSize%32 == 0 && k.p.Bits != 1 &&
		(k.dt == BF16 || k.dt == F16 || k.dt == F32)
}

// vectorBatch is the number of elements runVector widens at a time (16 KiB
// of float32, a whole number of groups of any size up to maxGroup).
const vectorBatch = 4096

// runVector quantizes groups [lo, hi) with the simd kernels, batch by batch:
// widen, per-group range, scale and bias in scalar code (affineFinite, the
// definition), then quantize and pack. A group holding a NaN or an Inf is
// redone by runScalar, which owns those rules.
func (k affineQuantKernel) runVector(lo, hi int) {
	gs, es, bitsN := k.p.GroupSize, k.dt.Size(), k.p.Bits
	nb := int32(1)<<bitsN - 1
	nbins := float32(nb)
	per := vectorBatch / gs
	var (
		xb             [vectorBatch]float32
		qb             [vectorBatch]uint8
		los, his       [vectorBatch / 32]float32
		scales, biases [vectorBatch / 32]float32
	)
	for g0 := lo; g0 < hi; g0 += per {
		n := min(per, hi-g0)
		x := xb[:n*gs]
		src := k.w[g0*gs*es : (g0+n)*gs*es]
		widened := false
		switch k.dt {
		case BF16:
			widened = simd.WidenBF16(x, src)
		case F16:
			widened = simd.WidenF16(x, src)
		case F32:
			if u := viewU32(src); u != nil {
				x = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(u))), len(u))
				widened = true
			}
		}
		if !widened {
			loadGroup(x, src, k.dt, k.f16)
		}
		n8 := (n + 7) &^ 7 // AffineScaleBias takes 8 groups at a time
		clear(los[n:n8])
		clear(his[n:n8])
		out := k.wq[g0*k.groupBytes : (g0+n)*k.groupBytes]
		ok := simd.GroupMinMax(x, gs, los[:n], his[:n]) &&
			simd.AffineScaleBias(los[:n8], his[:n8], scales[:n8], biases[:n8], nbins)
		switch {
		case !ok:
		case bitsN == 4:
			ok = simd.AffineQ4(out, x, gs, scales[:n], biases[:n])
		case bitsN == 8:
			ok = simd.AffineQ8(out, x, gs, scales[:n], biases[:n], uint8(nb))
		default:
			q := qb[:len(x)]
			if ok = simd.AffineQ8(q, x, gs, scales[:n], biases[:n], uint8(nb)); ok {
				for i := range n {
					packGroup(out[i*k.groupBytes:(i+1)*k.groupBytes], q[i*gs:(i+1)*gs], bitsN)
				}
			}
		}
		if !ok { // vectorOK admits only what the kernels take; never here
			k.runScalar(g0, g0+n)
			continue
		}
		k.storeScaleBias(g0, scales[:n8], biases[:n8], n)
		// Groups holding a NaN or an Inf got meaningless values above.
		for i := range n {
			if !finite32(los[i]) || !finite32(his[i]) {
				k.runScalar(g0+i, g0+i+1)
			}
		}
	}
}

// storeScaleBias stores the first n of scales and biases (padded to a
// multiple of 8) as groups g0.. in the weight dtype.
func (k affineQuantKernel) storeScaleBias(g0 int, scales, biases []float32, n int) {
	if k.dt == BF16 {
		var sb, bb [vectorBatch / 32]uint16
		if simd.NarrowBF16(sb[:len(scales)], scales) && simd.NarrowBF16(bb[:len(biases)], biases) {
			for i := range n {
				binary.LittleEndian.PutUint16(k.scales[2*(g0+i):], sb[i])
				binary.LittleEndian.PutUint16(k.biases[2*(g0+i):], bb[i])
			}
			return
		}
	}
	for i := range n {
		storeFloat(k.scales, k.dt, g0+i, scales[i])
		storeFloat(k.biases, k.dt, g0+i, biases[i])
	}
}

// runScalar quantizes groups [lo, hi) in scalar code: the definition of
// every case, and the path for NaN and Inf groups, Metal rounding, group
// sizes the vector kernels do not take and CPUs without them.
func (k affineQuantKernel) runScalar(lo, hi int) {
	gs, es, bitsN := k.p.GroupSize, k.dt.Size(), k.p.Bits
	nb := int32(1)<<bitsN - 1
	nbins := float32(nb)
	metal := k.p.Rounding == RoundingMetal
	minStart := maxFinite(k.dt)
	var xb [maxGroup]float32
	var qb [maxGroup]uint8
	x, q := xb[:gs], qb[:gs]
	for g := lo; g < hi; g++ {
		src := k.w[g*gs*es : (g+1)*gs*es]
		var wlo, whi float32
		if h := viewU16(src); h != nil && k.dt == BF16 {
			wlo, whi = loadMinMaxBF16(x, h)
		} else {
			loadGroup(x, src, k.dt, k.f16)
			wlo, whi = minMax(x)
		}
		var scale, bias float32
		if finite32(wlo) && finite32(whi) {
			scale, bias = affineFinite(wlo, whi, nbins, metal, k.nan)
			if bitsN == 4 && !metal {
				affineQuantFast4(k.wq[g*k.groupBytes:(g+1)*k.groupBytes], x, scale, bias)
				storeFloat(k.scales, k.dt, g, scale)
				storeFloat(k.biases, k.dt, g, bias)
				continue
			}
			affineQuantFast(q, x, scale, bias, nb, metal)
		} else {
			scale, bias = affineScaleBias(x, nbins, metal, minStart, k.nan)
			if metal {
				affineQuantMetal(q, x, scale, bias, nbins)
			} else {
				affineQuantCPU(q, x, scale, bias, nbins)
			}
		}
		packGroup(k.wq[g*k.groupBytes:(g+1)*k.groupBytes], q, bitsN)
		storeFloat(k.scales, k.dt, g, scale)
		storeFloat(k.biases, k.dt, g, bias)
	}
}

type affineDequantKernel struct {
	p          QuantParams
	sd, od     DType // scale (and bias) dtype, output dtype
	groupBytes int
	wq         []byte
	scales     []byte
	biases     []byte
	dst        []byte
	nan        fparith.Rule // fparith.Host(): MLX dequantizes on the CPU
}

// run dequantizes groups [lo, hi): out = T(T(q*scale) + bias) in the scale
// dtype T (two separately rounded ops, as MLX's composed multiply and add),
// then cast to the output dtype.
func (k affineDequantKernel) run(lo, hi int) {
	gs, bitsN := k.p.GroupSize, k.p.Bits
	levels := 1 << bitsN
	var qb [maxGroup]uint8
	var vb [maxGroup]float32
	q, vals := qb[:gs], vb[:gs]
	// With at least as many elements as levels, compute each level once
	// per group and look the outputs up.
	useLUT := levels <= gs
	var lvals [256]float32
	var lut16 [256]uint16
	var lut32 [256]uint32
	ob := k.od.Size()
	for g := lo; g < hi; g++ {
		src := k.wq[g*k.groupBytes : (g+1)*k.groupBytes]
		s := loadFloat(k.scales, k.sd, g)
		b := loadFloat(k.biases, k.sd, g)
		out := k.dst[g*gs*ob : (g+1)*gs*ob]
		if !useLUT {
			if bitsN == 8 {
				affineValues(vals, src, s, b, k.sd, k.nan)
			} else {
				unpackGroup(q, src, bitsN)
				affineValues(vals, q, s, b, k.sd, k.nan)
			}
			storeFloats(out, k.od, vals)
			continue
		}
		affineValues(lvals[:levels], levelIndex[:levels], s, b, k.sd, k.nan)
		if ob == 2 {
			floatsToBits16(lut16[:levels], lvals[:levels], k.od)
			if o := viewU16(out); o != nil && bitsN == 4 {
				o = o[:2*len(src)]
				for m, c := range src {
					o[2*m] = lut16[c&15]
					o[2*m+1] = lut16[c>>4]
				}
				continue
			}
			unpackGroup(q, src, bitsN)
			if o := viewU16(out); o != nil {
				o = o[:len(q)]
				for j, v := range q {
					o[j] = lut16[v]
				}
				continue
			}
			for j, v := range q {
				binary.LittleEndian.PutUint16(out[2*j:], lut16[v])
			}
			continue
		}
		for v := range levels {
			lut32[v] = math.Float32bits(lvals[v])
		}
		unpackGroup(q, src, bitsN)
		if o := viewU32(out); o != nil {
			o = o[:len(q)]
			for j, v := range q {
				o[j] = lut32[v]
			}
			continue
		}
		for j, v := range q {
			binary.LittleEndian.PutUint32(out[4*j:], lut32[v])
		}
	}
}

// levelIndex holds 0..255: the quantized levels.
var levelIndex = func() (l [256]uint8) {
	for i := range l {
		l[i] = uint8(i)
	}
	return l
}()

// floatsToBits16 rounds vals to dtype dt (F16 or BF16) bits.
func floatsToBits16(dst []uint16, vals []float32, dt DType) {
	dst = dst[:len(vals)]
	if dt == BF16 {
		for j, v := range vals {
			dst[j] = F32ToBF16(v)
		}
		return
	}
	for j, v := range vals {
		dst[j] = F32ToF16(v)
	}
}

// affineValues sets vals[j] = T(T(q[j]*s) + b) for T = sd (F32, F16 or
// BF16), widened to float32. The explicit roundings keep Go from fusing the
// multiply and the add (MLX's multiply and add are separate ops). With a
// finite scale and bias no NaN can arise; otherwise (0·Inf, Inf−Inf, two
// NaN operands) nan decides each NaN.
func affineValues(vals []float32, q []uint8, s, b float32, sd DType, nan fparith.Rule) {
	vals = vals[:len(q)]
	if !finite32(s) || !finite32(b) {
		for j, v := range q {
			vals[j] = roundTo(sd, nan.Add(roundTo(sd, nan.Mul(float32(v), s)), b))
		}
		return
	}
	switch sd {
	case BF16:
		for j, v := range q {
			p := BF16ToF32(F32ToBF16(float32(v) * s))
			vals[j] = BF16ToF32(F32ToBF16(p + b))
		}
	case F16:
		for j, v := range q {
			p := F16ToF32(F32ToF16(float32(v) * s))
			vals[j] = F16ToF32(F32ToF16(p + b))
		}
	default:
		for j, v := range q {
			vals[j] = float32(float32(v)*s) + b
		}
	}
}

// storeFloats writes vals rounded to dtype dt (F32, F16 or BF16) to dst.
func storeFloats(dst []byte, dt DType, vals []float32) {
	switch dt {
	case BF16:
		if o := viewU16(dst); o != nil {
			o = o[:len(vals)]
			for j, v := range vals {
				o[j] = F32ToBF16(v)
			}
			return
		}
	case F16:
		if o := viewU16(dst); o != nil {
			o = o[:len(vals)]
			for j, v := range vals {
				o[j] = F32ToF16(v)
			}
			return
		}
	default:
		if o := viewU32(dst); o != nil {
			o = o[:len(vals)]
			for j, v := range vals {
				o[j] = math.Float32bits(v)
			}
			return
		}
	}
	for j, v := range vals {
		storeFloat(dst, dt, j, v)
	}
}
