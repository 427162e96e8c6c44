package simd

import (
	"math"
	"unsafe"
)

// Lanes is the number of groups the K-quant searches take at once.
const Lanes = 8

// maxQKXGroup is the largest group QKX8 takes (the K-quants' 32).
const maxQKXGroup = 32

// QKXParams are make_qkx2_quants' search parameters: quants 0..Nmax, Nstep+1
// candidate scales (rmin + rdelta*k + nmax)/(max - min), and absolute
// instead of squared errors when MAD.
type QKXParams struct {
	Nmax         int32
	Rmin, Rdelta float32
	Nstep        int
	MAD          bool
	// Weights, if not WeightsGiven, makes QKX8 set w from x first.
	Weights WeightRule
}

// WeightRule says where QKX8's weights come from.
type WeightRule int

const (
	WeightsGiven  WeightRule = iota // w as the caller set it
	WeightsRMSAbs                   // sqrtf(sum of x*x / n) + |x| (Q4_K, Q5_K)
	WeightsAbs                      // |x| (Q2_K)
)

// QKX8 is gguf/kquant's makeQKXQuants (ggml's make_qkx2_quants and
// make_qkx3_quants) on Lanes groups of n elements at once, bit for bit.
// Element i of group g is x[i*Lanes+g] (weights w likewise); L[i*Lanes+g]
// receives its quant, scale[g] the group's scale and vmin[g] its final
// minimum (make_qkx2_quants returns -vmin). It needs n even, 2 <= n <= 32,
// 1 <= Nmax <= 255 and slices of n*Lanes elements, and reports false
// (writing nothing) when it cannot run. With p.Weights set, it first
// writes the weights it derives into w.
func QKX8(x, w []float32, n int, p QKXParams, L []int32, scale, vmin *[Lanes]float32) bool {
	if !Enabled || n < 2 || n%2 != 0 || n > maxQKXGroup || p.Nmax < 1 || p.Nmax > 255 || p.Weights < WeightsGiven || p.Weights > WeightsAbs ||
		len(x) != n*Lanes || len(w) != n*Lanes || len(L) != n*Lanes {
		return false
	}
	iters := p.Nstep + 1
	if p.Nstep < 1 {
		iters = 0
	}
	mad := 0
	if p.MAD {
		mad = 1
	}
	var aux [maxQKXGroup * Lanes]int32
	qkx8(&x[0], &w[0], &L[0], &aux[0], n, iters, int(p.Nmax), p.Rmin, p.Rdelta, mad, &scale[0], &vmin[0], int(p.Weights))
	return true
}

// QX8 is gguf/kquant's makeQXQuants (ggml's make_qx_quants, rmse_type 1)
// with weights w (with squares, first set to x*x: make_qx_quants' own
// weights) on Lanes groups of n elements at once, bit for bit, laid out as
// for QKX8: L[i*Lanes+g] receives nmax plus the quant (0 in a group
// whose largest magnitude is below 1e-15), scale[g] the group's scale. It
// needs 1 <= n <= 32, 1 <= nmax <= 127 and slices of n*Lanes elements, and
// reports false (writing nothing) when it cannot run.
func QX8(x, w []float32, n int, nmax int32, squares bool, L []int32, scale *[Lanes]float32) bool {
	if !Enabled || n < 1 || n > maxQKXGroup || nmax < 1 || nmax > 127 ||
		len(x) != n*Lanes || len(w) != n*Lanes || len(L) != n*Lanes {
		return false
	}
	sq := 0
	if squares {
		sq = 1
	}
	var aux [maxQKXGroup * Lanes]int32
	qx8(&x[0], &w[0], &L[0], &aux[0], n, int(nmax), &scale[0], sq)
	return true
}

// Interleave sets dst[i*Lanes+g] = src[g*n+i] for the Lanes groups of n
// values in src (the layout QKX8 and QX8 take), and Deinterleave undoes
// it. Both need n a positive multiple of 8 and slices of n*Lanes values,
// and report false (writing nothing) when they cannot run.
func Interleave[T word](dst, src []T, n int) bool {
	if !Enabled || n < 8 || n%8 != 0 || len(src) != n*Lanes || len(dst) != n*Lanes {
		return false
	}
	transpose8(wordPtr(dst), wordPtr(src), n/8, 4*n, 32, 32, 256)
	return true
}

// Deinterleave sets dst[g*n+i] = src[i*Lanes+g]; see Interleave.
func Deinterleave[T word](dst, src []T, n int) bool {
	if !Enabled || n < 8 || n%8 != 0 || len(src) != n*Lanes || len(dst) != n*Lanes {
		return false
	}
	transpose8(wordPtr(dst), wordPtr(src), n/8, 32, 256, 4*n, 32)
	return true
}

// word is a 32-bit element type.
type word interface{ ~int32 | ~uint32 | ~float32 }

// wordPtr is the address of s[0] as *uint32 (len(s) > 0).
func wordPtr[T word](s []T) *uint32 { return (*uint32)(unsafe.Pointer(&s[0])) }

// AllFinite reports whether it ran (len(x) a multiple of 8) and whether x
// holds no NaN and no infinity.
func AllFinite(x []float32) (ok, finite bool) {
	if !Enabled || len(x)%8 != 0 {
		return false, false
	}
	if len(x) == 0 {
		return true, true
	}
	return true, allFinite(&x[0], len(x))
}

// QuantRound sets L[i] = clamp(nearest_int((x[i]+dm)/d), lo, hi) + off,
// the K-quants' final rounding with a block's stored scale d and min dm
// (dm = 0 for the symmetric types, where (x+0)/d and x/d round alike),
// nearest_int being ggml's (round half to even through the float32 sum
// with 1.5*2^23). It needs len(x) == len(L) a multiple of 16, lo <= hi and
// lo+off >= 0, hi+off <= 255, and reports false (writing nothing) when it
// cannot run.
func QuantRound[T ~int8 | ~uint8](L []T, x []float32, dm, d float32, lo, hi, off int32) bool {
	if !Enabled || len(x)%16 != 0 || len(L) != len(x) || lo > hi || lo+off < 0 || hi+off > 255 {
		return false
	}
	if len(x) > 0 {
		quantRound((*byte)(unsafe.Pointer(&L[0])), &x[0], len(x), dm, d, int(lo), int(hi), int(off))
	}
	return true
}

// IQ4Table is a non-linear 4-bit grid (IQ4_NL's) laid out for IQ4Fit8:
// thresholds for a four-step bisection, the levels, constants.
type IQ4Table struct {
	rows [15][8]uint32
}

// NewIQ4Table lays out the 16 levels (ascending) and the 15 thresholds:
// th[k] is the least value whose level index is above k (ggml's
// best_index_int8 as kquant.bestIndexInt8 counts them).
func NewIQ4Table(levels *[16]float32, th *[15]float32) *IQ4Table {
	t := new(IQ4Table)
	bits := math.Float32bits
	for i := range 8 {
		t.rows[0][i] = bits(th[7])
		t.rows[1][i] = bits(th[3])
		t.rows[2][i] = bits(th[11])
		if i < 4 {
			t.rows[3][i] = bits(th[4*i+1])
		}
		t.rows[4][i] = bits(th[2*i])
		t.rows[5][i] = bits(levels[i])
		t.rows[6][i] = bits(levels[8+i])
		t.rows[7][i] = bits(levels[0])
		t.rows[8][i], t.rows[9][i], t.rows[10][i], t.rows[11][i] = 8, 4, 2, 1
		t.rows[12][i] = bits(1e-15)
		t.rows[13][i] = 0x7fffffff
		t.rows[14][i] = 15
	}
	return t
}

// IQ4Fit8 is gguf/kquant's iq4Fit (quantize_row_iq4_nl_impl's scale
// search, 7 tries each side) on Lanes groups of n elements at once, laid
// out as for QKX8, with weights w: scale[g] receives group g's scale (0
// when its largest magnitude is below 1e-15), bit for bit. It needs
// 1 <= n <= 32, and reports false (writing nothing) when it cannot run.
func IQ4Fit8(x, w []float32, n int, t *IQ4Table, scale *[Lanes]float32) bool {
	if !Enabled || n < 1 || n > maxQKXGroup || len(x) != n*Lanes || len(w) != n*Lanes || t == nil {
		return false
	}
	iq4fit8(&x[0], &w[0], n, &t.rows[0][0], &scale[0])
	return true
}

// IQ4Index sets L[i] to the level index of id*x[i] in t's grid, as ggml's
// best_index_int8 picks it (the nearer level, the upper one on a tie, 15
// for a NaN). It needs len(x) == len(L) a multiple of 16 and reports false
// (writing nothing) when it cannot run.
func IQ4Index(L []uint8, x []float32, id float32, t *IQ4Table) bool {
	if !Enabled || len(x)%16 != 0 || len(L) != len(x) || t == nil {
		return false
	}
	if len(x) > 0 {
		iq4index(&L[0], &x[0], len(x), id, &t.rows[0][0])
	}
	return true
}
