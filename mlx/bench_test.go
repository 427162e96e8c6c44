package mlx

import (
	"math/rand/v2"
	"testing"
)

// benchRows × benchCols is the benchmark matrix: a 4096×4096 bfloat16
// weight (32 MiB), the shape of a 7B model's attention projections.
const benchRows, benchCols = 4096, 4096

var benchWeight = func() func() []byte {
	var w []byte
	return func() []byte {
		if w == nil {
			r := rand.New(rand.NewPCG(1, 1))
			vals := make([]float32, benchRows*benchCols)
			for i := range vals {
				vals[i] = float32(r.NormFloat64() * 0.02)
			}
			w = bf16Bytes(vals...)
		}
		return w
	}
}()

var benchModes = []struct {
	name string
	p    QuantParams
}{
	{"affine4_g64", QuantParams{Mode: Affine, Bits: 4, GroupSize: 64}},
	{"affine8_g64", QuantParams{Mode: Affine, Bits: 8, GroupSize: 64}},
	{"affine3_g64", QuantParams{Mode: Affine, Bits: 3, GroupSize: 64}},
	{"mxfp4", QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32}},
	{"nvfp4", QuantParams{Mode: NVFP4, Bits: 4, GroupSize: 16}},
	{"mxfp8", QuantParams{Mode: MXFP8, Bits: 8, GroupSize: 32}},
	{"affine4_g64_metal", QuantParams{Mode: Affine, Bits: 4, GroupSize: 64, Rounding: RoundingMetal}},
	{"mxfp4_metal", QuantParams{Mode: MXFP4, Bits: 4, GroupSize: 32, Rounding: RoundingMetal}},
}

// BenchmarkQuantize quantizes the 4096×4096 bfloat16 matrix; SetBytes
// counts the input bytes.
func BenchmarkQuantize(b *testing.B) {
	w := benchWeight()
	shape := []int{benchRows, benchCols}
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			q, err := Quantize(w, BF16, shape, m.p)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(w)))
			b.ResetTimer()
			for b.Loop() {
				if err := QuantizeInto(w, BF16, shape, m.p, q.Weight, q.Scales, q.Biases); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDequantize dequantizes the quantized matrix back to the default
// dtype (bfloat16); SetBytes counts the output bytes.
func BenchmarkDequantize(b *testing.B) {
	w := benchWeight()
	shape := []int{benchRows, benchCols}
	for _, m := range benchModes[:6] {
		b.Run(m.name, func(b *testing.B) {
			q, err := Quantize(w, BF16, shape, m.p)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, len(w))
			b.SetBytes(int64(len(out)))
			b.ResetTimer()
			for b.Loop() {
				if err := DequantizeInto(out, q, m.p, Invalid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCast converts the matrix between dtypes; SetBytes counts the
// input bytes.
func BenchmarkCast(b *testing.B) {
	w := benchWeight()
	f32, _ := Cast(w, BF16, F32)
	f16, _ := Cast(w, BF16, F16)
	for _, c := range []struct {
		name     string
		src      []byte
		from, to DType
	}{
		{"bf16_f32", w, BF16, F32},
		{"f32_bf16", f32, F32, BF16},
		{"f32_f16", f32, F32, F16},
		{"f16_bf16", f16, F16, BF16},
		{"bf16_f16", w, BF16, F16},
	} {
		b.Run(c.name, func(b *testing.B) {
			dst := make([]byte, len(c.src)/c.from.Size()*c.to.Size())
			b.SetBytes(int64(len(c.src)))
			b.ResetTimer()
			for b.Loop() {
				if err := CastInto(dst, c.src, c.from, c.to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
