package kquant

import (
	"math"

	"github.com/mlxconv/mlxconv/internal/npfloat"
)

// The arithmetic helpers of ggml-quants.c. Every float operation is float32
// and rounded on its own, in the C source's evaluation order (left to right
// within an expression); a product that feeds a sum or difference carries an
// explicit float32() so that the Go compiler cannot fuse the two into an FMA
// (it may on arm64). ggml's reference build (ggml-base, x86-64 without
// -mfma) fuses nothing either.

// qkK is QK_K, the super-block size of the K-quants and IQ4_XS.
const qkK = 256

// groupMaxEps is GROUP_MAX_EPS: a group whose largest |x| is below it is
// treated as all zero.
const groupMaxEps = float32(1e-15)

// kvaluesIQ4NL is ggml's kvalues_iq4nl: the 16 levels of IQ4_NL and IQ4_XS.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// nearestInt is ggml's nearest_int: round to nearest, ties to even, through
// the float32 sum f + 1.5*2^23 read as bits. Outside |f| <= 4194303 (where
// ggml asserts only in debug builds) it returns what the bits give, as ggml's
// release build does.
func nearestInt(f float32) int32 {
	// float32(f): when inlined, f may be a product the compiler would fuse
	// with this sum.
	v := float32(f) + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// fmax and fmin are ggml's MAX and MIN macros on floats: a > b ? a : b and
// a < b ? a : b (unlike Go's max and min for NaN and signed zeros).
func fmax(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

func fabs(x float32) float32 { return float32(math.Abs(float64(x))) }

// sqrtf is C's sqrtf: the float64 square root of a float32 rounds to the
// correctly rounded float32 result.
func sqrtf(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// toF16 is GGML_FP32_TO_FP16: IEEE half, round to nearest even, overflow to
// infinity, and every NaN as the quiet NaN 0x7e00 with f's sign.
func toF16(f float32) uint16 {
	if f != f {
		return uint16(math.Float32bits(f)>>16)&0x8000 | 0x7e00
	}
	return npfloat.F32ToF16(f)
}

// fromF16 is GGML_FP16_TO_FP32: exact for every half; a NaN keeps its payload
// with the quiet bit set (ggml's multiply by 2^-112 quiets it).
func fromF16(h uint16) float32 {
	if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
		b := uint32(h&0x8000)<<16 | 0x7f800000 | uint32(h&0x3ff)<<13 | 0x00400000
		return math.Float32frombits(b)
	}
	return npfloat.F16ToF32(h)
}

// x86Int32 converts f to int32 as x86's cvttss2si does (and so ggml's C
// casts on x86-64): truncation toward zero, with NaN and out-of-range values
// giving math.MinInt32. Go's own conversion is implementation-defined there.
func x86Int32(f float32) int32 {
	if f != f || f >= 1<<31 || f < -(1<<31) {
		return math.MinInt32
	}
	return int32(f)
}

// bestIndexInt8 is ggml's best_index_int8 for the IQ4_NL levels: the index
// of the level nearest to x, the upper one on an exact tie, 15 for NaN.
// ggml bisects and then compares x - val[k-1] with val[k] - x in float32;
// that comparison turns false at one float32 iq4Thresholds[k-1] in each
// interval (both differences are monotone in x), so the index is the number
// of thresholds at or below x. TestBestIndexInt8 checks it against the
// bisection.
func bestIndexInt8(x float32) int {
	if x != x {
		return 15
	}
	// Count the thresholds at or below x: a 4-step bisection over the 16
	// padded entries.
	th := &iq4Thresholds
	n := 0
	if x >= th[n+7] {
		n += 8
	}
	if x >= th[n+3] {
		n += 4
	}
	if x >= th[n+1] {
		n += 2
	}
	if x >= th[n] {
		n++
	}
	return n
}

// iq4Thresholds[k-1] is the least float32 x in (val[k-1], val[k]] for which
// x - val[k-1] < val[k] - x is false; entry 15 is +Inf (padding).
var iq4Thresholds = func() (th [16]float32) {
	th[15] = float32(math.Inf(1))
	for k := 1; k < 16; k++ {
		a, b := float32(kvaluesIQ4NL[k-1]), float32(kvaluesIQ4NL[k])
		lo, hi := orderedKey(a), orderedKey(b) // P(lo) true, P(hi) false
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if x := fromOrderedKey(mid); x-a < b-x {
				lo = mid
			} else {
				hi = mid
			}
		}
		th[k-1] = fromOrderedKey(hi)
	}
	return th
}()

// orderedKey maps a non-NaN float32 to an int64 that orders as the floats
// do (-0 and +0 apart, which the bisection above never meets as a tie).
func orderedKey(f float32) int64 {
	b := math.Float32bits(f)
	if b&0x80000000 != 0 {
		return -int64(b & 0x7fffffff)
	}
	return int64(b)
}

func fromOrderedKey(k int64) float32 {
	if k < 0 {
		return math.Float32frombits(uint32(-k) | 0x80000000)
	}
	return math.Float32frombits(uint32(k))
}

// clampI is MAX(lo, MIN(hi, l)) on ints.
func clampI(l, lo, hi int32) int32 { return max(lo, min(hi, l)) }

// absMax returns the element of x with the largest magnitude, the first one
// on ties, and that magnitude (0, 0 when all are zero), as ggml's
// "if (ax > amax) { amax = ax; max = x[i]; }" loops find them.
func absMax(x []float32) (vmax, amax float32) {
	for _, v := range x {
		if ax := fabs(v); ax > amax {
			amax, vmax = ax, v
		}
	}
	return vmax, amax
}

// makeQXQuants is make_qx_quants with rmse_type 1 (the only one the K-quants
// and the weighted Q4_0/Q5_0 use): L[i] = nmax + clamp(round(x/scale)) for
// the scale in 19 candidates that maximizes the weighted fit; weights qw, or
// x*x when qw is nil. It returns the scale (0 for an all-zero group).
func makeQXQuants(nmax int32, x []float32, L []int8, qw []float32) float32 {
	vmax, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	var wBuf [32]float32
	wt := qw
	if wt == nil {
		wt = wBuf[:len(x)]
		for i, v := range x {
			wt[i] = v * v
		}
	}
	wt = wt[:len(x)]
	iscale := float32(-nmax) / vmax
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampI(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := wt[i]
		sumlx += float32(w * v * float32(l))
		suml2 += float32(w * float32(l) * float32(l))
	}
	scale := float32(0)
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := int32(-9); is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / vmax
		sumlx, suml2 = 0, 0
		for i, v := range x {
			l := clampI(nearestInt(iscale*v), -nmax, nmax-1)
			w := wt[i]
			sumlx += float32(w * v * float32(l))
			suml2 += float32(w * float32(l) * float32(l))
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clampI(nearestInt(iscale*v), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is make_q3_quants with do_rmse (Q3_K's reference path):
// weights x*x, then up to 5 rounds of single-element moves that improve the
// fit. L[i] ends as nmax + l.
func makeQ3Quants(nmax int32, x []float32, L []int8) float32 {
	vmax, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := float32(-nmax) / vmax
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampI(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l)
		w := v * v
		sumlx += float32(w * v * float32(l))
		suml2 += float32(w * float32(l) * float32(l))
	}
	for range 5 {
		changed := false
		for i, v := range x {
			w := v * v
			slx := sumlx - float32(w*v*float32(L[i]))
			if slx > 0 {
				sl2 := suml2 - float32(w*float32(L[i])*float32(L[i]))
				nl := clampI(nearestInt(v*sl2/slx), -nmax, nmax-1)
				if nl != int32(L[i]) {
					slx += float32(w * v * float32(nl))
					sl2 += float32(w * float32(nl) * float32(nl))
					if sl2 > 0 && float32(slx*slx*suml2) > float32(sumlx*sumlx*sl2) {
						L[i] = int8(nl)
						sumlx, suml2 = slx, sl2
						changed = true
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	for i := range L[:len(x)] {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// qkxParams are the search parameters of make_qkx2_quants/make_qkx3_quants.
type qkxParams struct {
	rmin, rdelta float32
	nstep        int
	useMAD       bool
}

// makeQKXQuants is make_qkx2_quants and make_qkx3_quants (identical for the
// non-nil weights every caller passes): an affine fit x ≈ scale*L - theMin
// with L in 0..nmax, searched over nstep+1 candidate scales. It returns scale
// and theMin (the negated offset, >= 0 or -0).
func makeQKXQuants(nmax int32, x, weights []float32, L, Laux []uint8, p qkxParams) (scale, theMin float32) {
	vmin, vmax, sumW, sumX := rangeAndSums(x, weights)
	if vmin > 0 {
		vmin = 0
	}
	if vmax == vmin {
		clear(L[:len(x)])
		return 0, -vmin
	}
	n := len(x)
	weights, L, Laux = weights[:n], L[:n], Laux[:n]
	// xd holds x[i] - vmin for the current vmin (which a better candidate
	// changes, as ggml's min does).
	var xdBuf [32]float32
	xd := xdBuf[:n]
	shift := func() {
		for i, v := range x {
			xd[i] = v - vmin
		}
	}
	shift()
	iscale := float32(nmax) / (vmax - vmin)
	scale = 1 / iscale
	for i := range xd {
		L[i] = uint8(clampI(nearestInt(iscale*xd[i]), 0, nmax))
	}
	bestErr := fitError(scale, vmin, x, weights, L, p.useMAD)
	if p.nstep < 1 {
		return scale, -vmin
	}
	for is := 0; is <= p.nstep; is++ {
		iscale = (p.rmin + float32(p.rdelta*float32(is)) + float32(nmax)) / (vmax - vmin)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampI(nearestInt(iscale*xd[i]), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(w * fl * fl)
			sumXL += float32(w * fl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if !(D > 0) {
			continue
		}
		thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
		thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		if curErr := fitError(thisScale, thisMin, x, weights, Laux, p.useMAD); curErr < bestErr {
			copy(L, Laux)
			bestErr, scale = curErr, thisScale
			if thisMin != vmin || math.Float32bits(thisMin) != math.Float32bits(vmin) {
				vmin = thisMin
				shift()
			}
		}
	}
	return scale, -vmin
}

// rangeAndSums returns the minimum and maximum of x (the first of equal
// values, as ggml's strict comparisons keep it), the sum of the weights and
// the weighted sum of x.
func rangeAndSums(x, weights []float32) (vmin, vmax, sumW, sumX float32) {
	vmin, vmax = x[0], x[0]
	sumW = weights[0]
	sumX = float32(sumW * x[0]) // no FMA with the sums below
	for i := 1; i < len(x); i++ {
		if x[i] < vmin {
			vmin = x[i]
		}
		if x[i] > vmax {
			vmax = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	return vmin, vmax, sumW, sumX
}

// fitError is the weighted error sum of make_qkx2/qkx3_quants: w times
// |scale*l + min - x| (useMAD) or its square, summed in order.
func fitError(scale, vmin float32, x, weights []float32, L []uint8, useMAD bool) float32 {
	x, L = x[:len(weights)], L[:len(weights)]
	var e float32
	if useMAD {
		for i, w := range weights {
			diff := float32(scale*float32(L[i])) + float32(vmin) - x[i]
			e += float32(w * fabs(diff))
		}
		return e
	}
	for i, w := range weights {
		diff := float32(scale*float32(L[i])) + float32(vmin) - x[i]
		e += float32(w * float32(diff*diff)) // ggml: diff = diff*diff; e += w*diff
	}
	return e
}

// makeQPQuants is make_qp_quants: non-negative x (super-block scales or mins)
// to L in 0..nmax with weights qw, the scale picked among 9 candidates, then
// refined by single-element moves. It returns the scale.
func makeQPQuants(nmax int32, x []float32, L []uint8, qw []float32) float32 {
	vmax := float32(0)
	for _, v := range x {
		vmax = fmax(vmax, v)
	}
	if vmax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	iscale := float32(nmax) / vmax
	for i, v := range x {
		L[i] = uint8(nearestInt(iscale * v))
	}
	scale := 1 / iscale
	bestMSE := float32(0)
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(qw[i] * diff * diff)
	}
	for is := int32(-4); is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + float32(nmax)) / vmax
		scaleIs := 1 / iscaleIs
		mse := float32(0)
		for i, v := range x {
			l := min(nmax, nearestInt(iscaleIs*v))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(qw[i] * diff * diff)
		}
		if mse < bestMSE {
			bestMSE, iscale = mse, iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nmax, nearestInt(iscale*v))
		L[i] = uint8(l)
		w := qw[i]
		sumlx += float32(w * v * float32(l))
		suml2 += float32(w * float32(l) * float32(l))
	}
	for range 5 {
		if !qpRefine(nmax, x, L, qw, &sumlx, &suml2) {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// qpRefine is one round of make_qp_quants' single-element moves; it reports
// whether any element moved.
func qpRefine(nmax int32, x []float32, L []uint8, qw []float32, sumlx, suml2 *float32) bool {
	changed := false
	for i, v := range x {
		w := qw[i]
		li := float32(L[i])
		slx := *sumlx - float32(w*v*li)
		sl2 := *suml2 - float32(w*li*li)
		if !(slx > 0 && sl2 > 0) {
			continue
		}
		nl := min(nmax, nearestInt(v*sl2/slx))
		if nl == int32(L[i]) {
			continue
		}
		slx += float32(w * v * float32(nl))
		sl2 += float32(w * float32(nl) * float32(nl))
		if float32(slx*slx*(*suml2)) > float32((*sumlx)*(*sumlx)*sl2) {
			L[i] = uint8(nl)
			*sumlx, *suml2 = slx, sl2
			changed = true
		}
	}
	return changed
}
