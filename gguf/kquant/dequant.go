package kquant

// Dequantizers, one block at a time, as ggml's dequantize_row_* compute them
// (float32 products and differences in the C order, never fused).

func dequantQ4_0(y []float32, b []byte) {
	d := fromF16(le.Uint16(b))
	for j := range 16 {
		y[j] = float32(int32(b[2+j]&0xf)-8) * d
		y[j+16] = float32(int32(b[2+j]>>4)-8) * d
	}
}

func dequantQ4_1(y []float32, b []byte) {
	d, m := fromF16(le.Uint16(b)), fromF16(le.Uint16(b[2:]))
	for j := range 16 {
		y[j] = float32(float32(b[4+j]&0xf)*d) + m
		y[j+16] = float32(float32(b[4+j]>>4)*d) + m
	}
}

// q5Quants returns the 32 unsigned 5-bit quants of a Q5_0/Q5_1 body.
func q5Quants(body []byte) (q [32]int32) {
	qh := le.Uint32(body)
	for j := range 16 {
		q[j] = int32(body[4+j]&0xf) | int32(qh>>j&1)<<4
		q[j+16] = int32(body[4+j]>>4) | int32(qh>>(j+16)&1)<<4
	}
	return q
}

func dequantQ5_0(y []float32, b []byte) {
	d := fromF16(le.Uint16(b))
	for j, q := range q5Quants(b[2:]) {
		y[j] = float32(q-16) * d
	}
}

func dequantQ5_1(y []float32, b []byte) {
	d, m := fromF16(le.Uint16(b)), fromF16(le.Uint16(b[2:]))
	for j, q := range q5Quants(b[4:]) {
		y[j] = float32(float32(q)*d) + m
	}
}

func dequantQ8_0(y []float32, b []byte) {
	d := fromF16(le.Uint16(b))
	for j := range 32 {
		y[j] = float32(int8(b[2+j])) * d
	}
}

func dequantQ2K(y []float32, b []byte) {
	d, dmin := fromF16(le.Uint16(b[80:])), fromF16(le.Uint16(b[82:]))
	for e := range qkK {
		half, r := e/128, e%128
		j, l := r/32, r%32 // shift 2j, bytes qs[32*half + l]
		sc := b[half*8+2*j+l/16]
		dl, ml := d*float32(sc&0xf), float32(dmin*float32(sc>>4))
		q := (b[16+32*half+l] >> (2 * j)) & 3
		y[e] = float32(dl*float32(q)) - ml
	}
}

func dequantQ3K(y []float32, b []byte) {
	dAll := fromF16(le.Uint16(b[108:]))
	for e := range qkK {
		half, r := e/128, e%128
		j, l := r/32, r%32
		dl := dAll * float32(q3KScale(b[96:108], half*8+2*j+l/16))
		q := int32((b[32+32*half+l] >> (2 * j)) & 3)
		if b[l]&(1<<(half*4+j)) == 0 {
			q -= 4
		}
		y[e] = dl * float32(q)
	}
}

func dequantQ4K(y []float32, b []byte) {
	d, dmin := fromF16(le.Uint16(b)), fromF16(le.Uint16(b[2:]))
	for e := range qkK {
		j := e / 32 // sub-block; byte qs[32*(j/2) + e%32], nibble j%2
		s, m := scaleMinK4(j, b[4:16])
		q := b[16+32*(j/2)+e%32] >> (4 * (j % 2)) & 0xf
		y[e] = float32(d*float32(s)*float32(q)) - float32(dmin*float32(m))
	}
}

func dequantQ5K(y []float32, b []byte) {
	d, dmin := fromF16(le.Uint16(b)), fromF16(le.Uint16(b[2:]))
	for e := range qkK {
		j, l := e/32, e%32
		s, m := scaleMinK4(j, b[4:16])
		q := int32(b[48+32*(j/2)+l]>>(4*(j%2))) & 0xf
		if b[16+l]&(1<<j) != 0 {
			q += 16
		}
		y[e] = float32(d*float32(s)*float32(q)) - float32(dmin*float32(m))
	}
}

func dequantQ6K(y []float32, b []byte) {
	d := fromF16(le.Uint16(b[208:]))
	for e := range qkK {
		half, r := e/128, e%128
		k, l := r/32, r%32 // k: q1..q4
		lo := b[64*half+l+32*(k%2)] >> (4 * (k / 2)) & 0xf
		hi := b[128+32*half+l] >> (2 * k) & 3
		q := int32(lo|hi<<4) - 32
		sc := int8(b[192+8*half+l/16+2*k])
		y[e] = d * float32(sc) * float32(q)
	}
}

func dequantIQ4NL(y []float32, b []byte) {
	d := fromF16(le.Uint16(b))
	for j := range 16 {
		y[j] = d * float32(kvaluesIQ4NL[b[2+j]&0xf])
		y[j+16] = d * float32(kvaluesIQ4NL[b[2+j]>>4])
	}
}

func dequantIQ4XS(y []float32, b []byte) {
	d := fromF16(le.Uint16(b))
	sh := le.Uint16(b[2:])
	for ib := range 8 {
		ls := int32(b[4+ib/2]>>(4*(ib%2)))&0xf | int32(sh>>(2*ib)&3)<<4
		dl := d * float32(ls-32)
		qs := b[8+16*ib:]
		for j := range 16 {
			y[32*ib+j] = dl * float32(kvaluesIQ4NL[qs[j]&0xf])
			y[32*ib+j+16] = dl * float32(kvaluesIQ4NL[qs[j]>>4])
		}
	}
}
