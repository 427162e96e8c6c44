package kquant

// The K-quants as ggml_quantize_chunk makes them: quantize_row_q*_K_ref
// without an importance matrix, quantize_row_q*_K_impl with one (qw, one
// weight per column). Block layouts (ggml-common.h):
//
//	Q2_K  scales[16] qs[64] d dmin                       84 bytes
//	Q3_K  hmask[32] qs[64] scales[12] d                  110 bytes
//	Q4_K  d dmin scales[12] qs[128]                      144 bytes
//	Q5_K  d dmin scales[12] qh[32] qs[128]               176 bytes
//	Q6_K  ql[128] qh[64] scales[16] (int8) d             210 bytes
//
// d and dmin are fp16.

// pack2bit stores 256 quants below 4 as ggml's qs[64]: for each half of 128,
// byte l holds elements l, l+32, l+64, l+96 in bits 0-1, 2-3, 4-5, 6-7.
func pack2bit(qs []byte, L []uint8) {
	for j := 0; j < qkK; j += 128 {
		for l := range 32 {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// sumSquares is the sum of v*v over x, in order.
func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

// sum is the sum of x, in order.
func sum(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

// q2KBlock is quantize_row_q2_K_ref / quantize_row_q2_K_impl for one block.
func q2KBlock(y []byte, x, qw []float32) {
	var L [qkK]uint8
	var weights [qkK]float32
	var scales, mins [16]float32
	sc := y[0:16]
	if qw == nil {
		p := qkxParams{rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true} // weights |x|
		makeQKXQuants8(3, 16, x[:128], nil, wAbs, L[:128], p, scales[:8], mins[:8])
		makeQKXQuants8(3, 16, x[128:qkK], nil, wAbs, L[128:], p, scales[8:], mins[8:])
		var maxScale, maxMin float32
		for j := range 16 {
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		q2KScalesRef(y, scales[:], mins[:], maxScale, maxMin)
	} else {
		var sw [16]float32
		sigma2 := sumSquares(x) / qkK
		for j := range 16 {
			wj := weights[16*j : 16*j+16]
			imatrixWeights(wj, x[16*j:16*j+16], qw[16*j:16*j+16], sigma2)
			sw[j] = sum(wj)
		}
		makeQKXQuants8(3, 16, x[:128], weights[:128], wGiven, L[:128], qkx3Params, scales[:8], mins[:8])
		makeQKXQuants8(3, 16, x[128:qkK], weights[128:], wGiven, L[128:], qkx3Params, scales[8:], mins[8:])
		var Ls, Lm [16]uint8
		dm := makeQPQuants(15, scales[:], Ls[:], sw[:])
		mm := makeQPQuants(15, mins[:], Lm[:], sw[:])
		le.PutUint16(y[80:], toF16(dm))
		le.PutUint16(y[82:], toF16(mm))
		for j := range 16 {
			sc[j] = Ls[j] | Lm[j]<<4
		}
	}
	d, dmin := fromF16(le.Uint16(y[80:])), fromF16(le.Uint16(y[82:]))
	for j := range 16 {
		dj := d * float32(sc[j]&0xf)
		if dj == 0 {
			continue
		}
		dm := float32(dmin * float32(sc[j]>>4)) // no FMA with the sum below
		roundGroup(L[16*j:16*j+16], x[16*j:16*j+16], dm, dj, 0, 3, 0)
	}
	pack2bit(y[16:80], L[:])
}

// q2KScalesRef writes the reference path's 4-bit scales and mins and d, dmin.
func q2KScalesRef(y []byte, scales, mins []float32, maxScale, maxMin float32) {
	const q4scale = 15
	sc := y[0:16]
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := range 16 {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
		le.PutUint16(y[80:], toF16(maxScale/q4scale))
	} else {
		clear(sc)
		le.PutUint16(y[80:], toF16(0))
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := range 16 {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
		le.PutUint16(y[82:], toF16(maxMin/q4scale))
	} else {
		le.PutUint16(y[82:], toF16(0))
	}
}

// q3KBlock is quantize_row_q3_K_ref / quantize_row_q3_K_impl for one block.
func q3KBlock(y []byte, x, qw []float32) {
	var L [qkK]int8
	var scales [16]float32
	sc := y[96:108]
	clear(sc)
	if qw == nil {
		var maxScale, amax float32
		for j := range 16 {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:])
			if s := fabs(scales[j]); s > amax {
				amax, maxScale = s, scales[j]
			}
		}
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := range 16 {
				l := int8(nearestInt(iscale * scales[j]))
				q3KPutScale(sc, j, int32(max(-32, min(31, l))+32))
			}
			le.PutUint16(y[108:], toF16(1/iscale))
		} else {
			le.PutUint16(y[108:], toF16(0))
		}
	} else {
		var weight [qkK]float32
		var sw [16]float32
		sigma2 := 2 * sumSquares(x) / qkK
		for j := range 16 {
			wj := weight[16*j : 16*j+16]
			imatrixWeights(wj, x[16*j:16*j+16], qw[16*j:16*j+16], sigma2)
			sw[j] = sum(wj)
		}
		makeQXQuants8(4, 16, x[:128], L[:128], weight[:128], scales[:8])
		makeQXQuants8(4, 16, x[128:qkK], L[128:], weight[128:], scales[8:])
		var Ls [16]int8
		dBlock := makeQXQuants(32, scales[:], Ls[:], sw[:])
		for j := range 16 {
			q3KPutScale(sc, j, int32(Ls[j]))
		}
		le.PutUint16(y[108:], toF16(dBlock))
	}
	q3KFinish(y, x, &L)
}

// q3KPutScale ORs the 6-bit scale l (0..63, or what ggml's int8 arithmetic
// makes of another value) into Q3_K's scales[12] at position j.
func q3KPutScale(sc []byte, j int, l int32) {
	if j < 8 {
		sc[j] = uint8(l & 0xf)
	} else {
		sc[j-8] |= uint8((l & 0xf) << 4)
	}
	l >>= 4
	sc[j%4+8] |= uint8(l << (2 * (j / 4)))
}

// q3KScale reads back scale j of Q3_K's scales[12], minus 32.
func q3KScale(sc []byte, j int) int8 {
	var s int8
	if j < 8 {
		s = int8(sc[j] & 0xf)
	} else {
		s = int8(sc[j-8] >> 4)
	}
	return (s | int8((sc[8+j%4]>>(2*(j/4)))&3)<<4) - 32
}

// q3KFinish requantizes with the stored scales and packs hmask and qs.
func q3KFinish(y []byte, x []float32, L *[qkK]int8) {
	d := fromF16(le.Uint16(y[108:]))
	for j := range 16 {
		dj := d * float32(q3KScale(y[96:108], j))
		if dj == 0 {
			continue
		}
		roundGroup(L[16*j:16*j+16], x[16*j:16*j+16], 0, dj, -4, 3, 4)
	}
	hmask := y[0:32]
	clear(hmask)
	var U [qkK]uint8
	for j := range qkK {
		l := L[j]
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		U[j] = uint8(l)
	}
	pack2bit(y[32:96], U[:])
}

// putScaleMinK4 stores the 6-bit scale ls and min lm of sub-block j in the
// Q4_K/Q5_K scales[12] (the inverse of get_scale_min_k4).
func putScaleMinK4(sc []byte, j int, ls, lm uint8) {
	if j < 4 {
		sc[j] = ls
		sc[j+4] = lm
		return
	}
	sc[j+4] = ls&0xf | (lm&0xf)<<4
	sc[j-4] |= (ls >> 4) << 6
	sc[j] |= (lm >> 4) << 6
}

// scaleMinK4 is get_scale_min_k4.
func scaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// q45KBlock is the common part of Q4_K (nmax 15) and Q5_K (nmax 31): it
// fits the eight 32-element sub-blocks, writes d, dmin and scales[12] at
// y[0:16], and returns the final quants in L.
func q45KBlock(y []byte, x, qw []float32, nmax int32, L *[qkK]uint8) {
	if qw == nil {
		q45KScalesRef(y, x, nmax, L)
	} else {
		q45KScalesWeighted(y, x, qw, nmax, L)
	}
	sc := y[4:16]
	d, dmin := fromF16(le.Uint16(y[0:])), fromF16(le.Uint16(y[2:]))
	for j := range 8 {
		s, m := scaleMinK4(j, sc)
		dj := d * float32(s)
		if dj == 0 {
			continue
		}
		dm := float32(dmin * float32(m)) // no FMA with the sum below
		roundGroup(L[32*j:32*j+32], x[32*j:32*j+32], dm, dj, 0, nmax, 0)
	}
}

// q45KScalesRef is the scale and min search of quantize_row_q{4,5}_K_ref.
func q45KScalesRef(y []byte, x []float32, nmax int32, L *[qkK]uint8) {
	var scales, mins [8]float32
	p := qkxParams{rmin: -1, rdelta: 0.1, nstep: 20}
	if nmax == 31 {
		p = qkxParams{rmin: -0.5, rdelta: 0.1, nstep: 15}
	}
	// weights sqrtf(sum of x*x / 32) + |x| per sub-block
	makeQKXQuants8(nmax, 32, x[:qkK], nil, wRMSAbs, L[:], p, scales[:], mins[:])
	var maxScale, maxMin float32
	for j := range 8 {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	for j := range 8 {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		putScaleMinK4(y[4:16], j, ls, lm)
	}
	le.PutUint16(y[0:], toF16(maxScale/63))
	le.PutUint16(y[2:], toF16(maxMin/63))
}

// q45KScalesWeighted is the scale and min search of
// quantize_row_q{4,5}_K_impl with importance weights qw.
func q45KScalesWeighted(y []byte, x, qw []float32, nmax int32, L *[qkK]uint8) {
	var weights [qkK]float32
	var scales, mins, sw [8]float32
	sigma2 := 2 * sumSquares(x) / qkK
	for j := range 8 {
		wj := weights[32*j : 32*j+32]
		imatrixWeights(wj, x[32*j:32*j+32], qw[32*j:32*j+32], sigma2)
		sw[j] = sum(wj)
	}
	makeQKXQuants8(nmax, 32, x[:qkK], weights[:], wGiven, L[:], qkx3Params, scales[:], mins[:])
	var Ls, Lm [8]uint8
	dBlock := makeQPQuants(63, scales[:], Ls[:], sw[:])
	mBlock := makeQPQuants(63, mins[:], Lm[:], sw[:])
	for j := range 8 {
		ls, lm := Ls[j], Lm[j]
		if nmax == 31 { // only quantize_row_q5_K_impl caps them
			ls, lm = min(63, ls), min(63, lm)
		}
		putScaleMinK4(y[4:16], j, ls, lm)
	}
	le.PutUint16(y[0:], toF16(dBlock))
	le.PutUint16(y[2:], toF16(mBlock))
}

// q4KBlock is quantize_row_q4_K_ref / quantize_row_q4_K_impl for one block.
func q4KBlock(y []byte, x, qw []float32) {
	var L [qkK]uint8
	q45KBlock(y, x, qw, 15, &L)
	q := y[16:144]
	for j := 0; j < qkK; j += 64 {
		for l := range 32 {
			q[j/2+l] = L[j+l] | L[j+l+32]<<4
		}
	}
}

// q5KBlock is quantize_row_q5_K_ref / quantize_row_q5_K_impl for one block.
func q5KBlock(y []byte, x, qw []float32) {
	var L [qkK]uint8
	q45KBlock(y, x, qw, 31, &L)
	qh, ql := y[16:48], y[48:176]
	clear(qh)
	m1, m2 := uint8(1), uint8(2)
	for n := 0; n < qkK; n += 64 {
		for j := range 32 {
			l1, l2 := L[n+j], L[n+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[n/2+j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
	}
}

// q6KBlock is quantize_row_q6_K_ref / quantize_row_q6_K_impl for one block
// (the weighted path uses qw directly as make_qx_quants' weights).
func q6KBlock(y []byte, x, qw []float32) {
	var L [qkK]int8
	var scales [16]float32
	var maxScale, maxAbs float32
	var qw0, qw1 []float32
	if qw != nil {
		qw0, qw1 = qw[:128], qw[128:qkK]
	}
	makeQXQuants8(32, 16, x[:128], L[:128], qw0, scales[:8])
	makeQXQuants8(32, 16, x[128:qkK], L[128:], qw1, scales[8:])
	for ib := range 16 {
		if a := fabs(scales[ib]); a > maxAbs {
			maxAbs, maxScale = a, scales[ib]
		}
	}
	if maxAbs < groupMaxEps {
		clear(y[:210])
		le.PutUint16(y[208:], toF16(0))
		return
	}
	iscale := -128 / maxScale
	le.PutUint16(y[208:], toF16(1/iscale))
	sc := y[192:208]
	for ib := range 16 {
		sc[ib] = uint8(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	d := fromF16(le.Uint16(y[208:]))
	for j := range 16 {
		dj := d * float32(int8(sc[j]))
		if dj == 0 {
			continue
		}
		roundGroup(L[16*j:16*j+16], x[16*j:16*j+16], 0, dj, -32, 31, 32)
	}
	ql, qh := y[0:128], y[128:192]
	for j := 0; j < qkK; j += 128 {
		for l := range 32 {
			q1, q2, q3, q4 := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
			ql[j/2+l] = q1&0xf | (q3&0xf)<<4
			ql[j/2+l+32] = q2&0xf | (q4&0xf)<<4
			qh[j/4+l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}
