package kquant

import "github.com/mlxconv/mlxconv/internal/simd"

// The K-quants fit many independent groups per block (8 of 32 for Q4_K and
// Q5_K, 16 of 16 for Q2_K and Q6_K). On CPUs with the vector kernels of
// internal/simd, eight groups run at once, one per vector lane, each with
// the scalar code's operations in its order: the bytes are the same. The
// scalar functions in helpers.go stay the definition and the only path
// elsewhere (and under -tags purego).

// makeQKXQuants8 runs makeQKXQuants on eight consecutive groups of n
// elements of x (weights w): group g is x[g*n:(g+1)*n], its quants go to
// L[g*n:], its scale and min to scales[g] and mins[g].
func makeQKXQuants8(nmax int32, n int, x, w []float32, L []uint8, p qkxParams, scales, mins []float32) {
	if simd.Enabled && n <= 32 {
		var xt, wt [32 * simd.Lanes]float32
		var lt [32 * simd.Lanes]int32
		for g := range simd.Lanes {
			for i, v := range x[g*n : (g+1)*n] {
				xt[i*simd.Lanes+g] = v
			}
			for i, v := range w[g*n : (g+1)*n] {
				wt[i*simd.Lanes+g] = v
			}
		}
		var sc, vm [simd.Lanes]float32
		m := n * simd.Lanes
		sp := simd.QKXParams{Nmax: nmax, Rmin: p.rmin, Rdelta: p.rdelta, Nstep: p.nstep, MAD: p.useMAD}
		if simd.QKX8(xt[:m], wt[:m], n, sp, lt[:m], &sc, &vm) {
			for g := range simd.Lanes {
				scales[g], mins[g] = sc[g], -vm[g]
				Lg := L[g*n : (g+1)*n]
				for i := range Lg {
					Lg[i] = uint8(lt[i*simd.Lanes+g])
				}
			}
			return
		}
	}
	var Laux [32]uint8
	for g := range simd.Lanes {
		scales[g], mins[g] = makeQKXQuants(nmax, x[g*n:(g+1)*n], w[g*n:(g+1)*n], L[g*n:], Laux[:n], p)
	}
}

// makeQXQuants8 runs makeQXQuants on eight consecutive groups of n elements
// of x (weights qw, or nil for x*x): group g's quants go to L[g*n:], its
// scale to scales[g].
func makeQXQuants8(nmax int32, n int, x []float32, L []int8, qw []float32, scales []float32) {
	if simd.Enabled && n <= 32 {
		var xt, wt [32 * simd.Lanes]float32
		var lt [32 * simd.Lanes]int32
		for g := range simd.Lanes {
			for i, v := range x[g*n : (g+1)*n] {
				xt[i*simd.Lanes+g] = v
				if qw == nil {
					wt[i*simd.Lanes+g] = v * v
				} else {
					wt[i*simd.Lanes+g] = qw[g*n+i]
				}
			}
		}
		var sc [simd.Lanes]float32
		m := n * simd.Lanes
		if simd.QX8(xt[:m], wt[:m], n, nmax, lt[:m], &sc) {
			for g := range simd.Lanes {
				scales[g] = sc[g]
				Lg := L[g*n : (g+1)*n]
				for i := range Lg {
					Lg[i] = int8(lt[i*simd.Lanes+g])
				}
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
