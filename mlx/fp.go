package mlx

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"

	"github.com/mlxconv/mlxconv/internal/fparith"
)

// Kernels of the fp modes MXFP4, NVFP4 and MXFP8 (mlxc.md §4.4 and §4.5).
//
// RoundingCPU reproduces MLX's CPU "fallback": a chain of ordinary MLX ops
// computed in the weight dtype T, every op rounding its result to its dtype.
// RoundingMetal reproduces the Metal kernel, which works in float32.

// fp4Values are the FP4 (e2m1) code points, index = code. Code 8 is
// negative zero (a Go constant -0.0 would be +0, hence negZero): MLX's
// dequantize gives -0 for it, and Metal emits it for tiny negative values.
var fp4Values = [16]float32{0, 0.5, 1, 1.5, 2, 3, 4, 6, negZero, -0.5, -1, -1.5, -2, -3, -4, -6}

var negZero = math.Float32frombits(0x80000000)

// fp4Slow marks a table entry the table cannot decide (CPU rule, |v| >= 8,
// Inf, NaN).
const fp4Slow = 0xff

// fp4Key indexes the FP4 tables with a float32's sign, exponent and top
// three mantissa bits, plus one bit telling whether any lower mantissa bit is
// set. Every FP4 rounding threshold has at most two mantissa bits, so all
// floats with one key round alike.
func fp4Key(b uint32) uint32 { return b>>20<<1 | (b&0xfffff+0xfffff)>>20 }

// fp4KeyValue returns a float32 with the given key.
func fp4KeyValue(key uint32) float32 { return math.Float32frombits(key>>1<<20 | key&1) }

// fp4CPUTable maps fp4Key(v) to the FP4 code MLX's CPU argmin picks for v
// (or fp4Slow), fp4MetalTable to the code of Metal's fp4_e2m1(v).
var fp4CPUTable, fp4MetalTable = func() (c, m [1 << 13]uint8) {
	for key := range uint32(1 << 13) {
		v := fp4KeyValue(key)
		c[key] = fp4Slow
		if abs32(v) < 8 {
			c[key] = fp4CodeCPUThreshold(v)
		}
		m[key] = fp4CodeMetal(v)
	}
	return c, m
}()

// fp4CodeCPUThreshold is MLX's CPU argmin rule for |v| < 8, where every
// difference that can decide the argmin is exact (Sterbenz): the nearest code
// point, ties to the smaller magnitude, and anything with |v| <= 0.25
// (negative or not) to code 0 (+0).
func fp4CodeCPUThreshold(v float32) uint8 {
	a := abs32(v)
	var c uint8
	for _, t := range [...]float32{0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5} {
		if a > t {
			c++
		}
	}
	if c != 0 && math.Signbit(float64(v)) {
		c |= 8
	}
	return c
}

// fp4CodeArgmin is the literal CPU rule: the first k minimising
// |sub(v - lut[k])| where sub rounds to the dtype of the subtraction. A NaN
// distance counts as the minimum (MLX's argmin); v NaN gives 0.
func fp4CodeArgmin(v float32, sub DType) uint8 {
	best := float32(math.Inf(1))
	var idx uint8
	for k, c := range fp4Values {
		d := abs32(roundTo(sub, v-c))
		if d != d {
			return uint8(k)
		}
		if k == 0 || d < best {
			best, idx = d, uint8(k)
		}
	}
	return idx
}

// fp4CodeCPU returns the code MLX's CPU picks for v, with the subtraction
// rounded to sub.
func fp4CodeCPU(v float32, sub DType) uint8 {
	if c := fp4CPUTable[fp4Key(math.Float32bits(v))]; c != fp4Slow {
		return c
	}
	return fp4CodeArgmin(v, sub)
}

// fp4CodeMetal is Metal's fp4_e2m1: round to nearest, ties to even, keeping
// the sign (so -0.1 is code 8), saturating at ±6; NaN is code 7.
func fp4CodeMetal(v float32) uint8 {
	if v != v {
		return 7
	}
	a := abs32(v)
	var c uint8
	switch {
	case a > 5:
		c = 7
	case a >= 3.5:
		c = 6
	case a > 2.5:
		c = 5
	case a >= 1.75:
		c = 4
	case a > 1.25:
		c = 3
	case a >= 0.75:
		c = 2
	case a > 0.25:
		c = 1
	}
	if math.Signbit(float64(v)) {
		c |= 8
	}
	return c
}

// absMaxNaN returns max |x| with NaN propagation (MLX's max reduction),
// branch-free in four lanes; len(x) is a multiple of 4.
func absMaxNaN(x []float32) float32 {
	var m0, m1, m2, m3 float32
	for j := 0; j+4 <= len(x); j += 4 {
		v := x[j : j+4 : j+4]
		m0 = max(m0, abs32(v[0]))
		m1 = max(m1, abs32(v[1]))
		m2 = max(m2, abs32(v[2]))
		m3 = max(m3, abs32(v[3]))
	}
	return max(m0, m1, m2, m3)
}

// absMaxMetal returns max |x| ignoring NaNs (Metal's simd_max).
func absMaxMetal(x []float32) float32 {
	var m float32
	for _, v := range x {
		if a := abs32(v); a > m {
			m = a
		}
	}
	return m
}

// ceilLog2 returns ceil(log2(s)) computed exactly for s > 0 (Inf for +Inf,
// NaN for NaN): the exponent of s, plus one unless s is a power of two.
func ceilLog2(s float32) float32 {
	if s != s || math.IsInf(float64(s), 0) {
		return s
	}
	fr, e := math.Frexp(float64(s)) // s = fr * 2^e, fr in [0.5, 1)
	if fr == 0.5 {
		e--
	}
	return float32(e)
}

// pow2Exact reports whether p is a power of two whose reciprocal is a normal
// float32, so that x/p == x*(1/p) for every x.
func pow2Exact(p float32) bool {
	b := math.Float32bits(p)
	e := b >> 23
	return b&0x7fffff == 0 && e >= 1 && e <= 253
}

type fpQuantKernel struct {
	dt         DType
	p          QuantParams
	groupBytes int
	w          []byte
	wq         []byte
	scales     []byte
	f16        *[1 << 16]float32
	enc        float32 // NVFP4: 448*6/global scale, or 1
	mx         *mxBF16 // bfloat16 MX fast path tables (CPU rounding)
	nan        fparith.Rule
	// The groups are groups first.. of a tensor of total groups (Chunk):
	// MX scale bytes from group tail on (of the whole tensor) take MLX's
	// scalar loop's conversion (mxScaleByte).
	first, total int
	tail         int
}

func (k *fpQuantKernel) prepare() {
	if k.dt == F16 {
		k.f16 = f16Table()
	}
	if k.dt == BF16 && k.p.Rounding == RoundingCPU {
		switch k.p.Mode {
		case MXFP8:
			k.mx = mxBF16FP8()
		case MXFP4:
			k.mx = mxBF16FP4()
		}
	}
	k.enc = 1
	if k.p.GlobalScale != nil {
		k.enc = float32(448*6) / *k.p.GlobalScale
	}
	k.nan = nanRule(k.p.Rounding)
	k.tail = mxScalarTail(k.dt, k.total)
}

// mxScalarTail returns the index of the first of a tensor's total MX scales
// (dtype t) that MLX's CPU build converts to uint8 in the scalar tail of
// its vectorized loop: the last total mod 8 (float32) or mod 16 (bfloat16);
// float16's conversion is scalar everywhere (0).
func mxScalarTail(t DType, total int) int {
	switch t {
	case F32:
		return total - total%8
	case BF16:
		return total - total%16
	}
	return 0
}

// run quantizes groups [lo, hi).
func (k fpQuantKernel) run(lo, hi int) {
	gs, es := k.p.GroupSize, k.dt.Size()
	var xb [maxGroup]float32
	var qb [maxGroup]uint8
	var hb [maxGroup]uint16
	x, q := xb[:gs], qb[:gs]
	fastBF16 := k.mx != nil
	for g := lo; g < hi; g++ {
		src := k.w[g*gs*es : (g+1)*gs*es]
		out := k.wq[g*k.groupBytes : (g+1)*k.groupBytes]
		scalar := k.first+g >= k.tail
		if fastBF16 {
			h := viewU16(src)
			if h == nil {
				h = hb[:gs]
				for j := range h {
					h[j] = binary.LittleEndian.Uint16(src[2*j:])
				}
			}
			if sb, ok := k.mx.groupBF16MX(h, out); ok {
				k.scales[g] = sb
				continue
			}
		}
		loadGroup(x, src, k.dt, k.f16)
		var sb uint8
		if k.p.Rounding == RoundingMetal {
			sb = k.groupMetal(x, q)
		} else {
			sb = k.groupCPU(x, q, scalar)
		}
		if k.p.Mode == MXFP8 {
			copy(out, q)
		} else {
			packGroup(out, q, 4)
		}
		k.scales[g] = sb
	}
}

// mxScale computes an MX group's scale as MLX's CPU fallback does in dtype
// t on a CPU with rule r: s = t(amax/maxval), the exponent
// e = t(int32(ceil(log2(s)))) (0 when s is 0), the divisor p = t(2^e) and
// the scale byte uint8(t(e+127)) (mxScaleByte; scalar: the group's scale
// lies in the scalar tail of MLX's conversion loop).
func mxScale(amax float32, t DType, maxval float32, r fparith.Rule, scalar bool) (e, p float32, sb uint8) {
	s := roundTo(t, amax/maxval)
	if s != 0 {
		// ceil(log2(s)), exact; NaN and ±Inf convert by r: MinInt32 on
		// x86; on ARM NaN gives 0 and +Inf MaxInt32.
		e = roundTo(t, float32(r.F32ToI32(ceilLog2(s))))
	}
	switch {
	case e < -200: // includes -Inf (float16's MinInt32)
		p = 0
	case e > 200: // includes +Inf (float16's MaxInt32)
		p = float32(math.Inf(1))
	default:
		p = roundTo(t, float32(math.Ldexp(1, int(e))))
	}
	sb = mxScaleByte(roundTo(t, e+127), t, r, scalar)
	return e, p, sb
}

// mxScaleByte converts the MX scale v = e+127 (dtype t) to its byte as
// MLX's astype(uint8) does on a CPU with rule r. On x86 it keeps the low
// byte of the int32 conversion (x86F32ToU8). On ARM MLX's compiled loop
// converts float32 and bfloat16 in vectors (FCVTZS to int32, then the low
// byte) and the scalar tail (the last n mod 8 or 16 of a tensor's n
// scales, see mxScalarTail) and all of float16 one at a time through
// uint32 (FCVTZU: negatives and NaN give 0, +Inf 0xff).
func mxScaleByte(v float32, t DType, r fparith.Rule, scalar bool) uint8 {
	if r.SaturatingConv && (scalar || t == F16) {
		return uint8(r.F32ToU32(v))
	}
	return uint8(r.F32ToI32(v))
}

// groupBF16MX is the CPU MXFP4/MXFP8 kernel for a 32-element bfloat16
// group with a finite amax whose scale exponent e lies in [mxFastMinExp,
// mxFastMaxExp] (ok is false otherwise, and nothing is written). The divisor
// is then the exact power of two 2^e, so each element's code depends only on
// its own bits and e: one lookup in the table for e. (A method of the tables,
// not of the kernel, so that no kernel is copied per group.)
func (mx *mxBF16) groupBF16MX(hs []uint16, outs []byte) (sb uint8, ok bool) {
	if len(hs) != mxGroup {
		return 0, false
	}
	h := (*[mxGroup]uint16)(hs)
	// Branch-free max of the magnitude bits, four 16-bit lanes to a word
	// (a compiled max would branch, and mispredict on random data), in two
	// independent chains.
	var m0, m1 uint64
	for j := 0; j < mxGroup; j += 8 {
		v := h[j : j+8 : j+8]
		m0 = maxLanes(m0, (uint64(v[0])|uint64(v[1])<<16|uint64(v[2])<<32|uint64(v[3])<<48)&lanes15)
		m1 = maxLanes(m1, (uint64(v[4])|uint64(v[5])<<16|uint64(v[6])<<32|uint64(v[7])<<48)&lanes15)
	}
	m := maxLanes(m0, m1)
	m = maxLanes(m, m>>32)
	m = maxLanes(m, m>>16)
	e := int32(mx.exp[m&0x7fff])
	if e == mxExpIrregular {
		return 0, false
	}
	// codes(e), inlined (e is in range, so the index needs no check).
	tab := mx.tabs[uint32(e-mxFastMinExp)%uint32(len(mx.tabs))].Load()
	if tab == nil {
		tab = mx.build(e)
	}
	if mx.mode == MXFP8 {
		out := (*[mxGroup]byte)(outs[:mxGroup])
		for j := 0; j < mxGroup; j += 8 {
			v := h[j : j+8 : j+8]
			binary.LittleEndian.PutUint64(out[j:], uint64(tab[v[0]])|uint64(tab[v[1]])<<8|
				uint64(tab[v[2]])<<16|uint64(tab[v[3]])<<24|uint64(tab[v[4]])<<32|
				uint64(tab[v[5]])<<40|uint64(tab[v[6]])<<48|uint64(tab[v[7]])<<56)
		}
		return uint8(e + 127), true
	}
	out := (*[mxGroup / 2]byte)(outs[:mxGroup/2])
	for j := 0; j < mxGroup; j += 8 {
		v := h[j : j+8 : j+8]
		w := uint32(tab[v[0]]) | uint32(tab[v[1]])<<4 | uint32(tab[v[2]])<<8 | uint32(tab[v[3]])<<12 |
			uint32(tab[v[4]])<<16 | uint32(tab[v[5]])<<20 | uint32(tab[v[6]])<<24 | uint32(tab[v[7]])<<28
		binary.LittleEndian.PutUint32(out[j/2:], w)
	}
	return uint8(e + 127), true
}

// mxGroup is the MX formats' group size.
const mxGroup = 32

// lanes15 masks the magnitude bits of four bfloat16 values in a word.
const lanes15 = 0x7fff_7fff_7fff_7fff

// maxLanes returns the lane-wise max of four 16-bit lanes holding values
// below 2^15, without a branch.
func maxLanes(m, x uint64) uint64 {
	// Bit 15 of a lane of (m|0x8000)-x is set iff m >= x there (no borrow
	// crosses lanes: each is at least 0x8000-0x7fff); widen it to a mask.
	ge := ((m | ^uint64(lanes15)) - x) & ^uint64(lanes15)
	mask := ge - ge>>15
	return x ^ (m^x)&mask
}

// mxExpIrregular marks an amax for which groupBF16MX does not apply.
const mxExpIrregular = math.MinInt8

// The fast path covers scale exponents [mxFastMinExp, mxFastMaxExp], i.e.
// amax between about 2^-49 and 2^15 times the element format's maximum,
// which bounds its lazily built tables to 64 tables of 64 KiB per mode;
// other groups take the general path.
const (
	mxFastMinExp = -48
	mxFastMaxExp = 15
)

// mxBF16 holds the tables of the bfloat16 MX fast path for one mode.
type mxBF16 struct {
	mode QuantMode
	// exp maps an amax (bfloat16 magnitude bits) to the scale exponent e
	// MLX's CPU computes in bfloat16, or mxExpIrregular: a non-finite amax,
	// or e outside [mxFastMinExp, mxFastMaxExp].
	exp *[1 << 15]int8
	// tabs[e-mxFastMinExp] maps bfloat16 bits v to the code of v/2^e (FP8
	// byte or FP4 code), built on first use.
	tabs [mxFastMaxExp - mxFastMinExp + 1]atomic.Pointer[[1 << 16]uint8]
}

func newMXBF16(mode QuantMode) *mxBF16 {
	m := &mxBF16{mode: mode, exp: new([1 << 15]int8)}
	maxval := float32(6)
	if mode == MXFP8 {
		maxval = 448
	}
	for a := range m.exp {
		e, p, sb := mxScale(BF16ToF32(uint16(a)), BF16, maxval, fparith.X86, false)
		m.exp[a] = mxExpIrregular
		if a < 0x7f80 && p != 0 && math.Float32bits(p)&0x7fffff == 0 &&
			e >= mxFastMinExp && e <= mxFastMaxExp && sb == uint8(int32(e)+127) {
			m.exp[a] = int8(e)
		}
		// The tables are shared by every rule: an amax whose scale any rule
		// (or loop) converts otherwise takes the general path.
		for _, r := range [...]fparith.Rule{fparith.ARM} {
			for _, scalar := range [...]bool{false, true} {
				if e2, p2, sb2 := mxScale(BF16ToF32(uint16(a)), BF16, maxval, r, scalar); e2 != e || p2 != p || sb2 != sb {
					m.exp[a] = mxExpIrregular
				}
			}
		}
	}
	return m
}

// build builds the table for exponent e, code[v] = FP8 byte or CPU FP4
// code of bf16(bf16(v) / 2^e), exactly as the general CPU path computes it
// (racing another caller, it returns the table stored first).
func (m *mxBF16) build(e int32) *[1 << 16]uint8 {
	slot := &m.tabs[e-mxFastMinExp]
	t := new([1 << 16]uint8)
	p := float32(math.Ldexp(1, int(e)))
	for v := range t {
		w := roundTo(BF16, BF16ToF32(uint16(v))/p)
		if m.mode == MXFP8 {
			t[v] = F32ToFP8E4M3(w)
		} else {
			t[v] = fp4CodeCPU(w, BF16)
		}
	}
	slot.CompareAndSwap(nil, t)
	return slot.Load()
}

var (
	mxBF16FP4 = sync.OnceValue(func() *mxBF16 { return newMXBF16(MXFP4) })
	mxBF16FP8 = sync.OnceValue(func() *mxBF16 { return newMXBF16(MXFP8) })
)

// groupCPU computes one group's element codes (FP4 codes or FP8 bytes) into
// q and returns the scale byte, following MLX's CPU fallback in dtype T
// (scalar: the group's MX scale lies in the scalar tail, mxScaleByte).
func (k fpQuantKernel) groupCPU(x []float32, q []uint8, scalar bool) uint8 {
	t := k.dt
	amax := absMaxNaN(x)
	q = q[:len(x)]
	if k.p.Mode == NVFP4 {
		s := roundTo(t, amax/6)
		sb := F32ToFP8E4M3(k.nan.Mul(s, k.enc)) // Inf·0 (global scale Inf): the NaN's sign is kept
		d := roundTo(t, FP8E4M3ToF32(sb))
		if t == BF16 && k.p.GlobalScale == nil {
			// The common case, with the bfloat16 rounding inlined.
			for j, v := range x {
				w := BF16ToF32(F32ToBF16(v / d))
				c := fp4CPUTable[fp4Key(math.Float32bits(w))]
				if c == fp4Slow {
					c = fp4CodeArgmin(w, F32)
				}
				q[j] = c
			}
			return sb
		}
		for j, v := range x {
			w := roundTo(t, v/d)
			if k.p.GlobalScale != nil {
				w *= k.enc // promotes to float32: the argmin runs in float32
			}
			q[j] = fp4CodeCPU(w, F32)
		}
		return sb
	}
	maxval := float32(6)
	if k.p.Mode == MXFP8 {
		maxval = 448
	}
	_, p, sb := mxScale(amax, t, maxval, k.nan, scalar)
	fp8 := k.p.Mode == MXFP8
	if pow2Exact(p) {
		// x/p is x*inv exactly, and rounding it to T cannot change the
		// code: it is T-representable except far below the first FP4 or
		// FP8 threshold.
		inv := 1 / p
		for j, v := range x {
			w := v * inv
			if fp8 {
				q[j] = F32ToFP8E4M3(w)
				continue
			}
			c := fp4CPUTable[fp4Key(math.Float32bits(w))]
			if c == fp4Slow {
				c = fp4CodeArgmin(roundTo(t, v/p), t)
			}
			q[j] = c
		}
		return sb
	}
	// p is 0, Inf, subnormal or huge here: 0/0 and Inf/Inf make NaNs,
	// whose sign an FP8 byte keeps (FP4 codes do not depend on it).
	for j, v := range x {
		w := roundTo(t, k.nan.Div(v, p))
		if fp8 {
			q[j] = F32ToFP8E4M3(w)
		} else {
			q[j] = fp4CodeCPU(w, t)
		}
	}
	return sb
}

// groupMetal is groupCPU with the Metal kernel's float32 rules.
func (k fpQuantKernel) groupMetal(x []float32, q []uint8) uint8 {
	maxval := float32(6)
	if k.p.Mode == MXFP8 {
		maxval = 448
	}
	s := absMaxMetal(x) / maxval
	var sb uint8
	var dec float32
	if k.p.Mode == NVFP4 {
		if k.p.GlobalScale != nil {
			s = k.nan.Mul(s, k.enc)
		}
		sb = F32ToFP8E4M3(s)
		dec = FP8E4M3ToF32(sb)
	} else {
		sb = F32ToE8M0(s)
		dec = E8M0ToF32(sb)
	}
	var mul float32
	if dec != 0 {
		mul = k.nan.Div(k.enc, dec)
	}
	q = q[:len(x)]
	for j, v := range x {
		// A NaN (Inf·0 when the scale is Inf and mul 0) takes its sign
		// from the rule: the FP8 byte keeps it.
		w := v * mul
		if w != w {
			w = k.nan.Mul(v, mul)
		}
		if k.p.Mode == MXFP8 {
			q[j] = F32ToFP8E4M3(w)
		} else {
			q[j] = fp4MetalTable[fp4Key(math.Float32bits(w))]
		}
	}
	return sb
}

type fpDequantKernel struct {
	p          QuantParams
	ot         DType // dtype of MLX's lut, from_fp8 and scale ops (out or bfloat16)
	od         DType // result dtype (ot, or float32 with a global scale)
	groupBytes int
	wq         []byte
	scales     []byte
	dst        []byte
	elems      [256]float32 // element value per code/byte, in dtype od
	inv        float32      // NVFP4 global scale / (448*6)
	nan        fparith.Rule // fparith.Host(): MLX dequantizes on the CPU
}

func (k *fpDequantKernel) prepare() {
	for i := range k.elems {
		if k.p.Mode == MXFP8 {
			k.elems[i] = roundTo(k.ot, FP8E4M3ToF32(uint8(i)))
		} else if i < 16 {
			k.elems[i] = fp4Values[i]
		}
	}
	if k.p.GlobalScale != nil {
		k.inv = *k.p.GlobalScale / float32(448*6)
	}
	k.nan = fparith.Host()
}

// groupScale returns the scale MLX's CPU fallback multiplies the group's
// elements by.
func (k *fpDequantKernel) groupScale(sb uint8) float32 {
	o := k.ot
	if k.p.Mode == NVFP4 {
		s := roundTo(o, FP8E4M3ToF32(sb))
		if k.p.GlobalScale != nil {
			return k.nan.Mul(s, k.inv) // float32
		}
		return s
	}
	// power(O(2), O(s) - O(127)) in O.
	return roundTo(o, float32(math.Pow(2, float64(float32(sb)-127))))
}

// run dequantizes groups [lo, hi).
func (k fpDequantKernel) run(lo, hi int) {
	gs := k.p.GroupSize
	ob := k.od.Size()
	var qb [maxGroup]uint8
	q := qb[:gs]
	for g := lo; g < hi; g++ {
		src := k.wq[g*k.groupBytes : (g+1)*k.groupBytes]
		if k.p.Mode == MXFP8 {
			copy(q, src)
		} else {
			unpackGroup(q, src, 4)
		}
		s := k.groupScale(k.scales[g])
		out := k.dst[g*gs*ob : (g+1)*gs*ob]
		if !finite32(s) {
			// 0·Inf and two NaN operands (a NaN FP8 element times a NaN
			// scale) make NaNs the rule decides; with a finite scale only a
			// NaN element gives a NaN, that element.
			for j, c := range q {
				storeFloat(out, k.od, j, k.nan.Mul(k.elems[c], s))
			}
			continue
		}
		switch k.od {
		case BF16:
			out = out[:2*len(q)]
			for j, c := range q {
				binary.LittleEndian.PutUint16(out[2*j:], F32ToBF16(k.elems[c]*s))
			}
		case F16:
			out = out[:2*len(q)]
			for j, c := range q {
				binary.LittleEndian.PutUint16(out[2*j:], F32ToF16(k.elems[c]*s))
			}
		default:
			out = out[:4*len(q)]
			for j, c := range q {
				binary.LittleEndian.PutUint32(out[4*j:], math.Float32bits(k.elems[c]*s))
			}
		}
	}
}
