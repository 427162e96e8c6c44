package kquant

import "github.com/mlxconv/mlxconv/internal/simd"

// The K-quants fit many independent groups per block (8 of 32 for Q4_K and
// Q5_K, 16 of 16 for Q2_K and Q6_K). On CPUs with the vector kernels of
// internal/simd, eight groups run at once, one per vector lane, each with
// the scalar code's operations in its order: the bytes are the same. The
// scalar functions in helpers.go stay the definition and the only path
// elsewhere (and under -tags purego).

// makeQKXQuants8 runs makeQKXQuants on eight consecutive groups of n
// elements of x: group g is x[g*n:(g+1)*n], its quants go to L[g*n:], its
// scale and min to scales[g] and mins[g]. The weights are w's (w nil
// when wr derives them from x: wRMSAbs sqrtf(sum of x*x / n) + |x|, the
// reference Q4_K and Q5_K's, or wAbs |x|, the reference Q2_K's).
func makeQKXQuants8(nmax int32, n int, x, w []float32, wr weightRule, L []uint8, p qkxParams, scales, mins []float32) {
	m := n * simd.Lanes
	if simd.Enabled && n <= 32 {
		var xt, wt [32 * simd.Lanes]float32
		var lt, lg [32 * simd.Lanes]int32
		interleave(xt[:m], x[:m], n)
		if wr == wGiven {
			interleave(wt[:m], w[:m], n)
		}
		var sc, vm [simd.Lanes]float32
		sp := simd.QKXParams{Nmax: nmax, Rmin: p.rmin, Rdelta: p.rdelta, Nstep: p.nstep, MAD: p.useMAD, Weights: simd.WeightRule(wr)}
		if simd.QKX8(xt[:m], wt[:m], n, sp, lt[:m], &sc, &vm) {
			for g := range simd.Lanes {
				scales[g], mins[g] = sc[g], -vm[g]
			}
			deinterleave(lg[:m], lt[:m], n)
			for i, l := range lg[:m] {
				L[i] = uint8(l)
			}
			return
		}
	}
	var Laux [32]uint8
	var wb [32]float32
	for g := range simd.Lanes {
		xg := x[g*n : (g+1)*n]
		var wg []float32
		switch wr {
		case wGiven:
			wg = w[g*n : (g+1)*n]
		case wRMSAbs:
			wg = wb[:n]
			avX := sqrtf(sumSquares(xg) / float32(n))
			for l, v := range xg {
				wg[l] = avX + fabs(v)
			}
		case wAbs:
			wg = wb[:n]
			for l, v := range xg {
				wg[l] = fabs(v)
			}
		}
		scales[g], mins[g] = makeQKXQuants(nmax, xg, wg, L[g*n:], Laux[:n], p)
	}
}

// weightRule says where makeQKXQuants8's weights come from (the values are
// internal/simd's WeightRule).
type weightRule int

const (
	wGiven  = weightRule(simd.WeightsGiven)
	wRMSAbs = weightRule(simd.WeightsRMSAbs)
	wAbs    = weightRule(simd.WeightsAbs)
)

// makeQXQuants8 runs makeQXQuants on eight consecutive groups of n elements
// of x (weights qw, or nil for x*x): group g's quants go to L[g*n:], its
// scale to scales[g].
func makeQXQuants8(nmax int32, n int, x []float32, L []int8, qw []float32, scales []float32) {
	if simd.Enabled && n <= 32 {
		var xt, wt [32 * simd.Lanes]float32
		var lt, lg [32 * simd.Lanes]int32
		m := n * simd.Lanes
		interleave(xt[:m], x[:m], n)
		if qw != nil {
			interleave(wt[:m], qw[:m], n)
		}
		var sc [simd.Lanes]float32
		if simd.QX8(xt[:m], wt[:m], n, nmax, qw == nil, lt[:m], &sc) {
			scales = scales[:simd.Lanes]
			copy(scales, sc[:])
			deinterleave(lg[:m], lt[:m], n)
			for i, l := range lg[:m] {
				L[i] = int8(l)
			}
			return
		}
	}
	for g := range simd.Lanes {
		var w []float32
		if qw != nil {
			w = qw[g*n : (g+1)*n]
		}
		scales[g] = makeQXQuants(nmax, x[g*n:(g+1)*n], L[g*n:], w)
	}
}

// interleave sets dst[i*simd.Lanes+g] = src[g*n+i]: the eight groups of
// src as the vector kernels take them.
func interleave[T int32 | float32](dst, src []T, n int) {
	if simd.Interleave(dst, src, n) {
		return
	}
	for g := range simd.Lanes {
		for i, v := range src[g*n : (g+1)*n] {
			dst[i*simd.Lanes+g] = v
		}
	}
}

// deinterleave undoes interleave.
func deinterleave[T int32 | float32](dst, src []T, n int) {
	if simd.Deinterleave(dst, src, n) {
		return
	}
	for g := range simd.Lanes {
		for i := range n {
			dst[g*n+i] = src[i*simd.Lanes+g]
		}
	}
}

// roundGroup sets L[i] = clamp(nearestInt((x[i]+dm)/d), lo, hi) + off, the
// final rounding of a group with its block's stored scale d and min dm
// (dm 0 for x/d: x+0 differs from x only for -0, which rounds to 0 either
// way).
func roundGroup[T int8 | uint8](L []T, x []float32, dm, d float32, lo, hi, off int32) {
	if simd.QuantRound(L, x, dm, d, lo, hi, off) {
		return
	}
	for i, v := range x {
		L[i] = T(clampI(nearestInt((v+dm)/d), lo, hi) + off)
	}
}

// iq4Table is IQ4_NL's grid for simd.IQ4Fit8.
var iq4Table = func() *simd.IQ4Table {
	var levels [16]float32
	var th [15]float32
	for i, v := range kvaluesIQ4NL {
		levels[i] = float32(v)
	}
	copy(th[:], iq4Thresholds[:15])
	return simd.NewIQ4Table(&levels, &th)
}()

// iq4Fit8 runs iq4Fit on the eight 32-element blocks of x (weights w) and
// sets their scales; it reports false when the vector kernel cannot run.
// (iq4Fit's levels are not needed: its callers recompute them all.)
func iq4Fit8(x, w []float32, scales []float32) bool {
	if !simd.Enabled {
		return false
	}
	var xt, wt [qkK]float32
	interleave(xt[:], x[:qkK], 32)
	interleave(wt[:], w[:qkK], 32)
	var sc [simd.Lanes]float32
	if !simd.IQ4Fit8(xt[:], wt[:], 32, iq4Table, &sc) {
		return false
	}
	copy(scales[:8], sc[:])
	return true
}
