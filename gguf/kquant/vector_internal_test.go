package kquant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlxconv/mlxconv/internal/simd"
)

// vectorGroup fills x (one group) from input class c: the cases that take
// the searches' rarer branches (all zero, constant, all positive, a single
// outlier, ties, tiny and huge magnitudes) and plain random data.
func vectorGroup(r *rand.Rand, c int, x []float32) {
	switch c % 12 {
	case 9: // subnormal: iscale overflows
		for i := range x {
			x[i] = float32(r.NormFloat64() * 1e-42)
		}
	case 10: // nearly constant and negative
		v := -float32(math.Abs(r.NormFloat64())) - 1
		for i := range x {
			x[i] = math.Nextafter32(v, float32(r.IntN(3)-1)*10)
		}
	case 11: // a few distinct values near the float32 limit
		for i := range x {
			x[i] = float32(r.IntN(3)-1) * 3e38
		}
	case 0:
		clear(x)
	case 1:
		v := float32(r.NormFloat64())
		for i := range x {
			x[i] = v
		}
	case 2:
		for i := range x {
			x[i] = float32(math.Abs(r.NormFloat64())) + 0.5
		}
	case 3:
		clear(x)
		x[r.IntN(len(x))] = float32(r.NormFloat64())
	case 4:
		for i := range x {
			x[i] = float32(r.IntN(5)-2) * 0.25
		}
	case 5:
		for i := range x {
			x[i] = float32(r.NormFloat64() * 1e-20)
		}
	case 6:
		for i := range x {
			x[i] = float32(r.NormFloat64() * 1e15)
		}
	case 7:
		for i := range x {
			x[i] = -float32(math.Abs(r.NormFloat64()))
		}
	default:
		for i := range x {
			x[i] = float32(r.NormFloat64() * 0.02)
		}
	}
}

// TestQKX8MatchesScalar: the eight-lane makeQKXQuants8 gives each group the
// scalar makeQKXQuants' quants, scale and min bit for bit, for every caller's
// parameters, with x-derived and imatrix-like weights.
func TestQKX8MatchesScalar(t *testing.T) {
	if !simd.Enabled {
		t.Skip("no vector kernels on this CPU or build (purego): makeQKXQuants8 is the scalar loop")
	}
	cases := []struct {
		nmax int32
		n    int
		p    qkxParams
		wr   weightRule
	}{
		{15, 32, qkxParams{rmin: -1, rdelta: 0.1, nstep: 20}, wGiven},
		{15, 32, qkxParams{rmin: -1, rdelta: 0.1, nstep: 20}, wRMSAbs},
		{31, 32, qkxParams{rmin: -0.5, rdelta: 0.1, nstep: 15}, wRMSAbs},
		{3, 16, qkxParams{rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true}, wAbs},
		{3, 16, qkxParams{rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true}, wGiven},
		{3, 16, qkx3Params, wGiven},
		{15, 32, qkx3Params, wGiven},
		{31, 32, qkx3Params, wGiven},
		{15, 32, qkxParams{rmin: -1, rdelta: 0.1, nstep: 0}, wRMSAbs},
		{7, 6, qkxParams{rmin: -0.9, rdelta: 0.3, nstep: 3, useMAD: true}, wRMSAbs},
		{7, 5, qkxParams{rmin: -0.9, rdelta: 0.3, nstep: 3}, wGiven}, // odd: the scalar loop
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		n := tc.n
		for round := range 400 {
			x := make([]float32, 8*n)
			w := make([]float32, 8*n)
			for g := range 8 {
				xg := x[g*n : (g+1)*n]
				vectorGroup(r, round+g, xg)
				for i, v := range xg {
					if round%2 == 0 {
						w[g*n+i] = fabs(v) + float32(r.Float64())*0.01
					} else {
						w[g*n+i] = float32(r.ExpFloat64())
					}
				}
			}
			L := make([]uint8, 8*n)
			var scales, mins [8]float32
			wIn := w
			switch tc.wr {
			case wRMSAbs: // the weights quantize_row_q4_K_ref computes
				wIn = nil
				for g := range 8 {
					xg := x[g*n : (g+1)*n]
					avX := sqrtf(sumSquares(xg) / float32(n))
					for i, v := range xg {
						w[g*n+i] = avX + fabs(v)
					}
				}
			case wAbs:
				wIn = nil
				for i, v := range x {
					w[i] = fabs(v)
				}
			}
			makeQKXQuants8(tc.nmax, n, x, wIn, tc.wr, L, tc.p, scales[:], mins[:])
			var Laux [32]uint8
			for g := range 8 {
				want := make([]uint8, n)
				s, m := makeQKXQuants(tc.nmax, x[g*n:(g+1)*n], w[g*n:(g+1)*n], want, Laux[:n], tc.p)
				if math.Float32bits(s) != math.Float32bits(scales[g]) || math.Float32bits(m) != math.Float32bits(mins[g]) {
					t.Fatalf("nmax %d n %d %+v weights %d round %d group %d: scale, min %v %v, want %v %v", tc.nmax, n, tc.p, tc.wr, round, g, scales[g], mins[g], s, m)
				}
				for i := range want {
					if L[g*n+i] != want[i] {
						t.Fatalf("nmax %d n %d %+v round %d group %d: L[%d] = %d, want %d", tc.nmax, n, tc.p, round, g, i, L[g*n+i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkMakeQKXQuants8(b *testing.B) {
	var x, w [256]float32
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.9)) * 0.03
		w[i] = 0.02 + fabs(x[i])
	}
	var L [256]uint8
	var scales, mins [8]float32
	p := qkxParams{rmin: -1, rdelta: 0.1, nstep: 20}
	for b.Loop() {
		makeQKXQuants8(15, 32, x[:], w[:], wGiven, L[:], p, scales[:], mins[:])
	}
}

// TestQX8MatchesScalar: makeQXQuants8 gives each group makeQXQuants' quants
// and scale bit for bit, with x*x weights and with given ones.
func TestQX8MatchesScalar(t *testing.T) {
	if !simd.Enabled {
		t.Skip("no vector kernels on this CPU or build (purego): makeQXQuants8 is the scalar loop")
	}
	cases := []struct {
		nmax int32
		n    int
		qw   bool
	}{{32, 16, false}, {32, 16, true}, {4, 16, true}, {8, 32, true}, {16, 32, false}, {1, 7, true}}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases {
		n := tc.n
		for round := range 400 {
			x := make([]float32, 8*n)
			var qw []float32
			if tc.qw {
				qw = make([]float32, 8*n)
			}
			for g := range 8 {
				vectorGroup(r, round+g, x[g*n:(g+1)*n])
			}
			for i := range qw {
				qw[i] = float32(r.ExpFloat64())
			}
			L := make([]int8, 8*n)
			var scales [8]float32
			makeQXQuants8(tc.nmax, n, x, L, qw, scales[:])
			for g := range 8 {
				want := make([]int8, n)
				var w []float32
				if qw != nil {
					w = qw[g*n : (g+1)*n]
				}
				s := makeQXQuants(tc.nmax, x[g*n:(g+1)*n], want, w)
				if math.Float32bits(s) != math.Float32bits(scales[g]) {
					t.Fatalf("nmax %d n %d qw %v round %d group %d: scale %v, want %v", tc.nmax, n, tc.qw, round, g, scales[g], s)
				}
				for i := range want {
					if L[g*n+i] != want[i] {
						t.Fatalf("nmax %d n %d qw %v round %d group %d: L[%d] = %d, want %d", tc.nmax, n, tc.qw, round, g, i, L[g*n+i], want[i])
					}
				}
			}
		}
	}
}

// TestRoundGroupMatchesScalar: the vector final rounding equals the scalar
// clamp(nearestInt((x+dm)/d)) + off on ties, signed zeros, values far
// outside the clamp range (beyond nearestInt's exact range too) and every
// caller's bounds.
func TestRoundGroupMatchesScalar(t *testing.T) {
	if !simd.Enabled {
		t.Skip("no vector kernels on this CPU or build (purego): roundGroup is the scalar loop")
	}
	r := rand.New(rand.NewPCG(7, 8))
	bounds := [][3]int32{{0, 3, 0}, {-4, 3, 4}, {0, 15, 0}, {0, 31, 0}, {-32, 31, 32}}
	for round := range 3000 {
		x := make([]float32, 32)
		d := float32(r.ExpFloat64() * 0.01)
		dm := float32(0)
		if round%2 == 0 {
			dm = float32(r.NormFloat64() * 0.05)
		}
		for i := range x {
			switch r.IntN(6) {
			case 0: // an exact tie of (x+dm)/d
				x[i] = (float32(r.IntN(80)-40)+0.5)*d - dm
			case 1:
				x[i] = float32(math.Copysign(0, -1))
			case 2:
				x[i] = float32(r.NormFloat64() * 1e9)
			default:
				x[i] = float32(r.NormFloat64() * 0.3)
			}
		}
		b := bounds[round%len(bounds)]
		got := make([]uint8, 32)
		roundGroup(got, x, dm, d, b[0], b[1], b[2])
		for i, v := range x {
			want := uint8(clampI(nearestInt((v+dm)/d), b[0], b[1]) + b[2])
			if got[i] != want {
				t.Fatalf("round %d: x %v dm %v d %v bounds %v: %d, want %d", round, v, dm, d, b, got[i], want)
			}
		}
	}
}

// TestIQ4Fit8MatchesScalar: iq4Fit8 gives each block iq4Fit's scale bit for
// bit, with x*x weights and imatrix-like ones.
func TestIQ4Fit8MatchesScalar(t *testing.T) {
	if !simd.Enabled {
		t.Skip("no vector kernels on this CPU or build (purego): iq4Super takes iq4Fit")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for round := range 3000 {
		x := make([]float32, qkK)
		w := make([]float32, qkK)
		for g := range 8 {
			vectorGroup(r, round+g, x[32*g:32*g+32])
		}
		for i, v := range x {
			if round%2 == 0 {
				w[i] = v * v
			} else {
				w[i] = float32(r.ExpFloat64()) * (v*v + 0.01)
			}
		}
		var got [8]float32
		if !iq4Fit8(x, w, got[:]) {
			t.Fatal("iq4Fit8 did not run")
		}
		var L [32]uint8
		for g := range 8 {
			want := iq4Fit(x[32*g:32*g+32], w[32*g:32*g+32], L[:])
			if math.Float32bits(got[g]) != math.Float32bits(want) {
				t.Fatalf("round %d block %d: scale %v, want %v", round, g, got[g], want)
			}
		}
	}
}

// TestIQ4LevelsMatchesScalar: the vector level search equals
// bestIndexInt8 on every threshold and its float neighbours, the levels,
// NaN, ±Inf and random values.
func TestIQ4LevelsMatchesScalar(t *testing.T) {
	if !simd.Enabled {
		t.Skip("no vector kernels on this CPU or build (purego): iq4Levels is the scalar loop")
	}
	var vals []float32
	for _, th := range iq4Thresholds[:15] {
		vals = append(vals, th, math.Nextafter32(th, -200), math.Nextafter32(th, 200))
	}
	for _, v := range kvaluesIQ4NL {
		vals = append(vals, float32(v), -float32(v))
	}
	vals = append(vals, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 1e30, -1e30)
	r := rand.New(rand.NewPCG(11, 12))
	for len(vals)%32 != 0 || len(vals) < 4096 {
		vals = append(vals, float32(r.NormFloat64()*60))
	}
	for _, id := range []float32{1, 0.37, -2.5, 0} {
		got := make([]uint8, len(vals))
		iq4Levels(got, vals, id)
		for i, v := range vals {
			if want := uint8(bestIndexInt8(id * v)); got[i] != want {
				t.Fatalf("id %v x %v: level %d, want %d", id, v, got[i], want)
			}
		}
	}
}

// TestIQ4NLRowMatchesBlocks: IQ4_NL rows quantized eight blocks at a time
// equal the block-by-block path, with and without weights, for rows whose
// block count leaves a remainder.
func TestIQ4NLRowMatchesBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	one := blockRow(32, 18, iq4NLBlock)
	for round := range 200 {
		nb := 1 + r.IntN(20)
		x := make([]float32, 32*nb)
		for b := range nb {
			vectorGroup(r, round+b, x[32*b:32*b+32])
		}
		var qw []float32
		if round%2 == 1 {
			qw = make([]float32, len(x))
			for i := range qw {
				qw[i] = float32(r.ExpFloat64())
			}
		}
		got, want := make([]byte, 18*nb), make([]byte, 18*nb)
		iq4NLRow(got, x, qw)
		one(want, x, qw)
		if string(got) != string(want) {
			t.Fatalf("round %d: %d blocks, weights %v: rows differ", round, nb, qw != nil)
		}
	}
}
