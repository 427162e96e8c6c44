package kquant

import (
	"encoding/binary"
	"math"
)

var le = binary.LittleEndian

// The 32-element types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 as ggml_quantize_chunk
// makes them: quantize_row_*_ref without an importance matrix; with one,
// quantize_row_*_impl (weights qw*sqrt(sigma2 + x*x) with sigma2 the row's
// mean square; Q8_0 ignores it).

// putNibbles32 stores 32 quants below 16 as ggml's qs[16]: element j in the
// low nibble of byte j, element j+16 in its high nibble.
func putNibbles32(qs []byte, q *[32]uint8) {
	for j := range 16 {
		qs[j] = q[j] | q[j+16]<<4
	}
}

// putQ5Body32 stores 32 quants below 32 as ggml's qh (uint32, bit j = bit 4
// of element j) followed by the low nibbles.
func putQ5Body32(body []byte, q *[32]uint8) {
	var qh uint32
	for j := range 32 {
		qh |= uint32(q[j]&0x10) >> 4 << j
	}
	le.PutUint32(body, qh)
	for j := range 16 {
		body[4+j] = q[j]&0x0f | (q[j+16]&0x0f)<<4
	}
}

// symmetricRef is quantize_row_q4_0_ref (nmax 8, top 15) and
// quantize_row_q5_0_ref (nmax 16, top 31): d = max/-nmax with max the first
// element of largest magnitude, q = MIN(top, (int8_t)(x*id + nmax + 0.5)).
func symmetricRef(dst []byte, x []float32, nmax int32) {
	vmax, _ := absMax(x)
	d := vmax / float32(-nmax)
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	le.PutUint16(dst, toF16(d))
	var q [32]uint8
	off := float32(nmax) + 0.5
	for j, v := range x {
		// (int8_t)(x0 + 8.5f) then MIN(15, ...) on int: a truncated byte
		// read as signed, so a NaN or overflow gives 0.
		q[j] = uint8(min(2*nmax-1, int32(int8(x86Int32(float32(v*id)+off)))))
	}
	if nmax == 8 {
		putNibbles32(dst[2:], &q)
	} else {
		putQ5Body32(dst[2:], &q)
	}
}

// affineRef is quantize_row_q4_1_ref (levels 16) and quantize_row_q5_1_ref
// (levels 32): d = (max-min)/(levels-1), q = (int)((x-min)*id + 0.5), capped
// at 15 for Q4_1 (Q5_1 has no cap in ggml).
func affineRef(dst []byte, x []float32, levels int32) {
	vmin, vmax := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range x {
		if v < vmin {
			vmin = v
		}
		if v > vmax {
			vmax = v
		}
	}
	d := (vmax - vmin) / float32(levels-1)
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	le.PutUint16(dst, toF16(d))
	le.PutUint16(dst[2:], toF16(vmin))
	var q [32]uint8
	for j, v := range x {
		f := float32((v-vmin)*id) + 0.5
		if levels == 16 {
			q[j] = uint8(min(15, int32(int8(x86Int32(f)))))
		} else {
			q[j] = uint8(x86Int32(f))
		}
	}
	if levels == 16 {
		putNibbles32(dst[4:], &q)
	} else {
		putQ5Body32(dst[4:], &q)
	}
}

// q8_0Ref is quantize_row_q8_0_ref: d = amax/127, q = roundf(x*id).
func q8_0Ref(dst []byte, x []float32) {
	amax := float32(0)
	for _, v := range x {
		amax = fmax(amax, fabs(v))
	}
	d := amax / 127
	id := float32(0)
	if d != 0 {
		id = 1 / d
	}
	le.PutUint16(dst, toF16(d))
	for j, v := range x {
		// roundf (half away from zero) is exact in float64; the int8 store
		// truncates through cvttss2si on x86-64.
		dst[2+j] = byte(x86Int32(float32(math.Round(float64(v * id)))))
	}
}

// rowSigma2 is the weighted legacy types' sigma2: sum of x*x over the row,
// in order, divided by the row length.
func rowSigma2(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s / float32(len(x))
}

// imatrixWeights fills w with qw[j]*sqrt(sigma2 + x[j]*x[j]).
func imatrixWeights(w, x, qw []float32, sigma2 float32) {
	for j, v := range x {
		w[j] = qw[j] * sqrtf(float32(sigma2)+float32(v*v)) // sigma2 may be a product: no FMA
	}
}

// legacyRow quantizes one row of a 32-element type: blocks of the reference
// path without qw, the weighted path with it.
func legacyRow(t legacyKind) rowFunc {
	return func(dst []byte, x, qw []float32) {
		ts := t.typeSize()
		nb := len(x) / 32
		if qw == nil || t == kindQ8_0 {
			for b := range nb {
				t.ref(dst[b*ts:(b+1)*ts], x[b*32:(b+1)*32])
			}
			return
		}
		sigma2 := rowSigma2(x)
		var w [32]float32
		for b := range nb {
			xb := x[b*32 : (b+1)*32]
			imatrixWeights(w[:], xb, qw[b*32:(b+1)*32], sigma2)
			t.weighted(dst[b*ts:(b+1)*ts], xb, w[:])
		}
	}
}

type legacyKind int

const (
	kindQ4_0 legacyKind = iota
	kindQ4_1
	kindQ5_0
	kindQ5_1
	kindQ8_0
)

func (k legacyKind) typeSize() int { return [...]int{18, 20, 22, 24, 34}[k] }

func (k legacyKind) ref(dst []byte, x []float32) {
	switch k {
	case kindQ4_0:
		symmetricRef(dst, x, 8)
	case kindQ5_0:
		symmetricRef(dst, x, 16)
	case kindQ4_1:
		affineRef(dst, x, 16)
	case kindQ5_1:
		affineRef(dst, x, 32)
	case kindQ8_0:
		q8_0Ref(dst, x)
	}
}

// weighted is quantize_row_q{4,5}_{0,1}_impl for one block with weights w.
func (k legacyKind) weighted(dst []byte, x, w []float32) {
	var q [32]uint8
	switch k {
	case kindQ4_0, kindQ5_0:
		nmax := int32(8)
		if k == kindQ5_0 {
			nmax = 16
		}
		var L [32]int8
		d := makeQXQuants(nmax, x, L[:], w)
		le.PutUint16(dst, toF16(d))
		for j := range q {
			q[j] = uint8(L[j])
		}
		if k == kindQ4_0 {
			putNibbles32(dst[2:], &q)
		} else {
			putQ5Body32(dst[2:], &q)
		}
	case kindQ4_1, kindQ5_1:
		nmax := int32(15)
		if k == kindQ5_1 {
			nmax = 31
		}
		var Laux [32]uint8
		d, m := makeQKXQuants(nmax, x, w, q[:], Laux[:], qkx3Params)
		le.PutUint16(dst, toF16(d))
		le.PutUint16(dst[2:], toF16(-m))
		if k == kindQ4_1 {
			putNibbles32(dst[4:], &q)
		} else {
			putQ5Body32(dst[4:], &q)
		}
	}
}

// qkx3Params are the make_qkx3_quants arguments of every weighted caller.
var qkx3Params = qkxParams{rmin: -0.9, rdelta: 0.05, nstep: 36}
