package kquant

import "math"

// The ternary types TQ1_0 (qs[48] five trits per byte, qh[4] four trits per
// byte, d; 54 bytes) and TQ2_0 (qs[64] four 2-bit values per byte, d; 66
// bytes), as quantize_row_tq1_0_ref and quantize_row_tq2_0_ref make them
// (ggml_quantize_chunk ignores an importance matrix for both): d = amax,
// values lroundf(x/d) in {-1, 0, 1}.

// lroundf is C's lroundf as glibc computes it on x86-64: round half away
// from zero, with NaN and values out of the long range giving LONG_MIN.
func lroundf(f float32) int64 {
	r := math.Round(float64(f))
	if r != r || r >= 1<<63 || r < -(1<<63) {
		return math.MinInt64
	}
	return int64(r)
}

// trit is lroundf(v*id) + 1 as ggml's int xi holds it.
func trit(v, id float32) uint8 { return uint8(int32(lroundf(v*id) + 1)) }

// amaxScale returns d = max |x| and id = 1/d (0 when d is 0).
func amaxScale(x []float32) (d, id float32) {
	for _, v := range x {
		d = fmax(d, fabs(v))
	}
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

// packTrits5 stores, for m < width, the five trits x[m + n*width] (n = 0..4,
// the first the most significant) as ceil(q*256/243) in qs[m].
func packTrits5(qs []byte, x []float32, id float32, width int) {
	for m := range width {
		var q uint8
		for n := range 5 {
			q = q*3 + trit(x[m+n*width], id)
		}
		qs[m] = uint8((uint16(q)*256 + 242) / 243)
	}
}

func tq1Block(y []byte, x, _ []float32) {
	d, id := amaxScale(x)
	le.PutUint16(y[52:], toF16(d))
	packTrits5(y[0:32], x[0:160], id, 32)
	packTrits5(y[32:48], x[160:240], id, 16)
	x = x[240:]
	for j := range 4 {
		var q uint8
		for m := range 4 {
			q = q*3 + trit(x[j+m*4], id)
		}
		q *= 3
		y[48+j] = uint8((uint16(q)*256 + 242) / 243)
	}
}

func tq2Block(y []byte, x, _ []float32) {
	d, id := amaxScale(x)
	le.PutUint16(y[64:], toF16(d))
	for j := 0; j < 64; j += 32 {
		xj := x[4*j:]
		for m := range 32 {
			var q uint8
			for n := range 4 {
				q += (trit(xj[m+n*32], id) & 3) << (2 * n)
			}
			y[j+m] = q
		}
	}
}

// tritAt is the n-th trit (0 = most significant) of a packed byte, minus 1.
func tritAt(b uint8, n int) int32 {
	q := b * [5]uint8{1, 3, 9, 27, 81}[n]
	return int32(uint16(q)*3>>8) - 1
}

func dequantTQ1(y []float32, b []byte) {
	d := fromF16(le.Uint16(b[52:]))
	e := 0
	for _, g := range [][2]int{{0, 32}, {32, 16}} {
		for n := range 5 {
			for m := range g[1] {
				y[e] = float32(tritAt(b[g[0]+m], n)) * d
				e++
			}
		}
	}
	for n := range 4 {
		for j := range 4 {
			y[e] = float32(tritAt(b[48+j], n)) * d
			e++
		}
	}
}

func dequantTQ2(y []float32, b []byte) {
	d := fromF16(le.Uint16(b[64:]))
	for j := 0; j < 64; j += 32 {
		for l := range 4 {
			for m := range 32 {
				y[4*j+32*l+m] = float32(int32(b[j+m]>>(2*l)&3)-1) * d
			}
		}
	}
}
