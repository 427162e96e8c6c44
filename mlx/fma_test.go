package mlx

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDequantizeNoFMA dequantizes float32 affine groups whose outputs
// q*scale + bias differ when the product and the sum are fused into one
// rounding: MLX multiplies and adds in separate ops, so each must come out
// rounded twice. On amd64 (Go fuses nothing at GOAMD64 < v3) it catches a
// math.FMA written in; on arm64, where the compiler fuses x*y+z unless the
// product is converted, it catches a lost float32() (build.sh runs it under
// qemu-aarch64, and its FMA check looks at the machine code as well). Both
// the per-element path (8 bits, groups of 32) and the level table (4 bits)
// are covered.
func TestDequantizeNoFMA(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 4))
	for _, bits := range []int{8, 4} {
		const gs = 32
		levels := 1 << bits
		// Find a scale and bias for which some level rounds differently
		// fused and unfused.
		var s, b float32
		for found := false; !found; {
			s = float32(0.5 + r.Float64()/2)
			b = float32(r.Float64()*400 - 200)
			for q := range levels {
				if unfusedAffine(q, s, b) != float32(math.FMA(float64(q), float64(s), float64(b))) {
					found = true
				}
			}
		}
		q := make([]uint8, gs)
		for j := range q {
			q[j] = uint8(j * (levels - 1) / (gs - 1)) // every level of 4 bits
			if levels > gs {
				q[j] = uint8(r.IntN(levels))
			}
		}
		wq := make([]byte, gs*bits/8)
		packGroup(wq, q, bits)
		scales := make([]byte, 4)
		biases := make([]byte, 4)
		binary.LittleEndian.PutUint32(scales, math.Float32bits(s))
		binary.LittleEndian.PutUint32(biases, math.Float32bits(b))
		qz := Quantized{Weight: wq, WeightShape: []int{1, gs * bits / 32}, Scales: scales, Biases: biases,
			ScaleShape: []int{1, 1}, ScaleDType: F32}
		out, err := Dequantize(qz, QuantParams{Mode: Affine, Bits: bits, GroupSize: gs}, F32)
		require.NoError(t, err)
		differ := 0
		for j, v := range q {
			want := unfusedAffine(int(v), s, b)
			got := math.Float32frombits(binary.LittleEndian.Uint32(out[4*j:]))
			assert.Equal(t, math.Float32bits(want), math.Float32bits(got), "bits %d q %d scale %v bias %v", bits, v, s, b)
			if want != float32(math.FMA(float64(v), float64(s), float64(b))) {
				differ++
			}
		}
		require.NotZero(t, differ, "bits %d: no element tells fused from unfused", bits)
	}
}

// unfusedAffine is float32(q*s) + b computed in float64, where the product
// of a float32 and an 8-bit integer and the sum of two float32 of nearby
// magnitude are exact, so each float32 conversion is the one rounding.
func unfusedAffine(q int, s, b float32) float32 {
	p := float32(float64(q) * float64(s))
	return float32(float64(p) + float64(b))
}
