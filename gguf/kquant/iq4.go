package kquant

import "github.com/mlxconv/mlxconv/internal/simd"

// IQ4_NL (blocks of 32: d, qs[16]; 18 bytes) and IQ4_XS (super-blocks of
// 256: d, scales_h (uint16), scales_l[4], qs[128]; 136 bytes), as
// quantize_iq4_nl and quantize_iq4_xs make them (both through
// quantize_row_iq4_nl_impl with ntry 7, with or without weights: without an
// importance matrix the weights are x*x).

// iq4Scales holds quantize_row_iq4_nl_impl's per-block working state.
type iq4Scales struct {
	scales [8]float32
	L      [qkK]uint8
}

// iq4Fit fits one 32-element block xb with weights w (best levels, then a
// search over 15 candidate scales); it returns the block scale (0 for an
// all-zero block, whose levels it leaves untouched).
func iq4Fit(xb, w []float32, Lb []uint8) float32 {
	const ntry = 7
	vmax, amax := absMax(xb)
	if amax < groupMaxEps {
		return 0
	}
	v0 := float32(kvaluesIQ4NL[0])
	d := -vmax / v0
	id := 1 / d
	var sumqx, sumq2 float32
	for j, v := range xb {
		l := bestIndexInt8(id * v)
		Lb[j] = uint8(l)
		q := float32(kvaluesIQ4NL[l])
		sumqx += float32(w[j] * q * v)
		sumq2 += float32(w[j] * q * q)
	}
	d = 0
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	best := d * sumqx
	for itry := -ntry; itry <= ntry; itry++ {
		id = float32(itry+int(kvaluesIQ4NL[0])) / vmax
		sumqx, sumq2 = 0, 0
		for j, v := range xb {
			q := float32(kvaluesIQ4NL[bestIndexInt8(id*v)])
			sumqx += float32(w[j] * q * v)
			sumq2 += float32(w[j] * q * q)
		}
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			d = sumqx / sumq2
			best = d * sumqx
		}
	}
	return d
}

// iq4Weights fills w for block xb: qw*sqrt(sigma2 + x*x), or x*x without qw.
func iq4Weights(w, xb, qw []float32, sigma2 float32) {
	if qw != nil {
		imatrixWeights(w, xb, qw, sigma2)
		return
	}
	for j, v := range xb {
		w[j] = v * v
	}
}

// iq4Super fits the n/32 blocks of x (n = 32 or 256) and returns the scale
// of largest magnitude (the first on ties).
func iq4Super(st *iq4Scales, x, qw []float32) float32 {
	sigma2 := sumSquares(x)
	sigma2 = float32(sigma2 * (2 / float32(len(x))))
	var w [qkK]float32
	nb := len(x) / 32
	for ib := range nb {
		var qb []float32
		if qw != nil {
			qb = qw[32*ib : 32*ib+32]
		}
		iq4Weights(w[32*ib:32*ib+32], x[32*ib:32*ib+32], qb, sigma2)
	}
	if nb != 8 || !iq4Fit8(x, w[:], st.scales[:]) {
		for ib := range nb {
			st.scales[ib] = iq4Fit(x[32*ib:32*ib+32], w[32*ib:32*ib+32], st.L[32*ib:32*ib+32])
		}
	}
	var maxScale, amaxScale float32
	for ib := range nb {
		if a := fabs(st.scales[ib]); a > amaxScale {
			amaxScale, maxScale = a, st.scales[ib]
		}
	}
	return maxScale
}

// packIQ4 stores the levels L[:n] as qs: per 32 values, value j in the low
// nibble of byte j and value j+16 in its high nibble.
func packIQ4(qs []byte, L []uint8) {
	for i := range len(L) / 32 {
		for j := range 16 {
			qs[16*i+j] = L[32*i+j] | L[32*i+16+j]<<4
		}
	}
}

// iq4NLBlock is quantize_iq4_nl for one block of 32.
func iq4NLBlock(y []byte, x, qw []float32) {
	var st iq4Scales
	iq4Super(&st, x, qw)
	iq4NLFinish(y, x, st.scales[0])
}

// iq4NLFinish writes block x of 32 with scale s: d, then the levels of x/s.
func iq4NLFinish(y []byte, x []float32, s float32) {
	le.PutUint16(y, toF16(s))
	id := float32(0)
	if s != 0 {
		id = 1 / s
	}
	var L [32]uint8
	iq4Levels(L[:], x, id)
	packIQ4(y[2:18], L[:])
}

// iq4NLRow is quantize_iq4_nl over a row: eight blocks at a time through
// the vector scale search where it runs (each block with its own sigma2,
// as iq4Super computes it for 32 values), the rest one by one.
func iq4NLRow(dst []byte, x, qw []float32) {
	nb := len(x) / 32
	b := 0
	for ; b+8 <= nb; b += 8 {
		xs := x[32*b : 32*(b+8)]
		var w [qkK]float32
		for i := range 8 {
			xb := xs[32*i : 32*i+32]
			var qb []float32
			if qw != nil {
				qb = qw[32*(b+i) : 32*(b+i)+32]
			}
			iq4Weights(w[32*i:32*i+32], xb, qb, float32(sumSquares(xb)*(2/float32(32))))
		}
		var scales [8]float32
		if !iq4Fit8(xs, w[:], scales[:]) {
			break
		}
		for i := range 8 {
			iq4NLFinish(dst[18*(b+i):18*(b+i)+18], xs[32*i:32*i+32], scales[i])
		}
	}
	for ; b < nb; b++ {
		var qb []float32
		if qw != nil {
			qb = qw[32*b : 32*b+32]
		}
		iq4NLBlock(dst[18*b:18*b+18], x[32*b:32*b+32], qb)
	}
}

// iq4XSBlock is quantize_iq4_xs for one super-block of 256.
func iq4XSBlock(y []byte, x, qw []float32) {
	var st iq4Scales
	maxScale := iq4Super(&st, x, qw)
	d := -maxScale / 32
	le.PutUint16(y, toF16(d))
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	var scalesH uint16
	scalesL := y[4:8]
	for ib := range 8 {
		l := clampI(nearestInt(id*st.scales[ib]), -32, 31)
		dl := d * float32(l)
		idl := float32(0)
		if dl != 0 {
			idl = 1 / dl
		}
		iq4Levels(st.L[32*ib:32*ib+32], x[32*ib:32*ib+32], idl)
		l += 32
		if ib%2 == 0 {
			scalesL[ib/2] = uint8(l & 0xf)
		} else {
			scalesL[ib/2] |= uint8(l&0xf) << 4
		}
		scalesH |= uint16(l>>4) << (2 * (ib % 8))
	}
	le.PutUint16(y[2:], scalesH)
	packIQ4(y[8:136], st.L[:])
}

// iq4Levels sets L[j] to the IQ4_NL level index of id*x[j].
func iq4Levels(L []uint8, x []float32, id float32) {
	if simd.IQ4Index(L, x, id, iq4Table) {
		return
	}
	for j, v := range x {
		L[j] = uint8(bestIndexInt8(id * v))
	}
}
