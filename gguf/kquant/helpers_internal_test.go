package kquant

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNearestInt(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want int32
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0}, {0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2},
		{-2.5, -2}, {0.49999997, 0}, {3.4999998, 3}, {-7.5, -8}, {4194303, 4194303}, {-4194303, -4194303},
	} {
		assert.Equal(t, c.want, nearestInt(c.in), "nearestInt(%v)", c.in)
	}
}

// ggmlFP32ToFP16 is ggml_compute_fp32_to_fp16 written out step by step
// (the float scaling trick), the definition toF16 must equal.
func ggmlFP32ToFP16(f float32) uint16 {
	scaleToInf := math.Float32frombits(0x77800000)
	scaleToZero := math.Float32frombits(0x08800000)
	base := float32(fabs(f)*scaleToInf) * scaleToZero
	w := math.Float32bits(f)
	shl1 := w + w
	sign := w & 0x80000000
	bias := max(shl1&0xff000000, 0x71000000)
	base = math.Float32frombits(bias>>1+0x07800000) + base
	bits := math.Float32bits(base)
	nonsign := (bits>>13)&0x7c00 + bits&0x0fff
	if shl1 > 0xff000000 {
		nonsign = 0x7e00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

func TestToF16(t *testing.T) {
	check := func(b uint32) {
		f := math.Float32frombits(b)
		if got, want := toF16(f), ggmlFP32ToFP16(f); got != want {
			t.Fatalf("toF16(%#08x) = %#04x, ggml %#04x", b, got, want)
		}
	}
	// Every exponent with mantissas around the rounding points, and a
	// stride through all bit patterns.
	for e := uint32(0); e < 256; e++ {
		for _, m := range []uint32{0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000, 0x400000, 0x7fefff, 0x7ff000, 0x7fffff} {
			check(e<<23 | m)
			check(1<<31 | e<<23 | m)
		}
	}
	for b := uint64(0); b < 1<<32; b += 4093 {
		check(uint32(b))
	}
}

// ggmlFP16ToFP32 is ggml_compute_fp16_to_fp32 step by step.
func ggmlFP16ToFP32(h uint16) float32 {
	w := uint32(h) << 16
	sign := w & 0x80000000
	two := w + w
	norm := math.Float32frombits(two>>4+0xe0<<23) * math.Float32frombits(0x7800000)
	denorm := math.Float32frombits(two>>17|126<<23) - 0.5
	if two < 1<<27 {
		return math.Float32frombits(sign | math.Float32bits(denorm))
	}
	return math.Float32frombits(sign | math.Float32bits(norm))
}

func TestFromF16(t *testing.T) {
	for h := range 1 << 16 {
		got, want := fromF16(uint16(h)), ggmlFP16ToFP32(uint16(h))
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fromF16(%#04x) = %#08x, ggml %#08x", h, math.Float32bits(got), math.Float32bits(want))
		}
	}
}

// bisectIndexInt8 is ggml's best_index_int8 as written (bisection), the
// definition bestIndexInt8 must equal.
func bisectIndexInt8(val *[16]int8, x float32) int {
	n := len(val)
	if x <= float32(val[0]) {
		return 0
	}
	if x >= float32(val[n-1]) {
		return n - 1
	}
	ml, mu := 0, n-1
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(val[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if x-float32(val[mu-1]) < float32(val[mu])-x {
		return mu - 1
	}
	return mu
}

func TestBestIndexInt8(t *testing.T) {
	for _, c := range []struct {
		x    float32
		want int
	}{
		{-1000, 0}, {-127, 0}, {-115.6, 0}, {-115.5, 1}, {0, 8}, {-4.6, 7}, {-4.5, 8}, {1, 8}, {113, 15}, {1e9, 15},
		{float32(math.NaN()), 15}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), 15},
	} {
		assert.Equal(t, c.want, bestIndexInt8(c.x), "x %v", c.x)
	}
	check := func(x float32) {
		if got, want := bestIndexInt8(x), bisectIndexInt8(&kvaluesIQ4NL, x); got != want {
			t.Fatalf("bestIndexInt8(%v [%#08x]) = %d, the bisection gives %d", x, math.Float32bits(x), got, want)
		}
	}
	// 4096 float32 neighbours of every level, threshold and zero, then a
	// stride through every float32 bit pattern.
	var centers []float32
	for _, v := range kvaluesIQ4NL {
		centers = append(centers, float32(v))
	}
	centers = append(centers, iq4Thresholds[:15]...)
	centers = append(centers, 0)
	for _, c := range centers {
		k := orderedKey(c)
		for d := int64(-2048); d <= 2048; d++ {
			check(fromOrderedKey(k + d))
		}
	}
	for b := uint64(0); b < 1<<32; b += 997 {
		check(math.Float32frombits(uint32(b)))
	}
}

func BenchmarkBestIndexInt8(b *testing.B) {
	xs := make([]float32, 1024)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i))*120) - 7
	}
	b.Run("thresholds", func(b *testing.B) {
		s := 0
		for b.Loop() {
			for _, x := range xs {
				s += bestIndexInt8(x)
			}
		}
		_ = s
	})
	b.Run("bisection", func(b *testing.B) {
		s := 0
		for b.Loop() {
			for _, x := range xs {
				s += bisectIndexInt8(&kvaluesIQ4NL, x)
			}
		}
		_ = s
	})
}

func BenchmarkMakeQKXQuants(b *testing.B) {
	var x, w [32]float32
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.9)) * 0.03
		w[i] = 0.02 + fabs(x[i])
	}
	var L, Laux [32]uint8
	p := qkxParams{rmin: -1, rdelta: 0.1, nstep: 20}
	for b.Loop() {
		makeQKXQuants(15, x[:], w[:], L[:], Laux[:], p)
	}
}
