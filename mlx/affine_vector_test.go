package mlx

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/simd"
)

// withVector runs fn with the simd kernels switched on or off.
func withVector(on bool, fn func()) {
	prev := simd.Enabled
	simd.Enabled = prev && on
	defer func() { simd.Enabled = prev }()
	fn()
}

// vectorTestWeight returns rows×cols random elements of dtype dt, with some
// groups holding NaN, ±Inf, huge or tiny values, constant groups and signed
// zeros.
func vectorTestWeight(r *rand.Rand, dt DType, n, gs int) []byte {
	vals := make([]float32, n)
	for g := 0; g < n/gs; g++ {
		grp := vals[g*gs : (g+1)*gs]
		sc := math.Pow(2, float64(r.IntN(30)-20))
		for i := range grp {
			grp[i] = float32(r.NormFloat64() * sc)
		}
		switch r.IntN(12) {
		case 0:
			grp[r.IntN(gs)] = float32(math.NaN())
		case 1:
			grp[r.IntN(gs)] = float32(math.Inf(1 - 2*r.IntN(2)))
		case 2:
			c := grp[0]
			for i := range grp {
				grp[i] = c
			}
		case 3:
			for i := range grp {
				grp[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
			}
		case 4:
			grp[r.IntN(gs)] = 3e4 * float32(r.IntN(3)-1)
		}
	}
	out := make([]byte, n*dt.Size())
	for i, v := range vals {
		storeFloat(out, dt, i, v)
	}
	return out
}

// TestAffineVectorMatchesScalar quantizes the same weights with the vector
// kernels and with the scalar code and requires identical bytes, for every
// bit width, the group sizes MLX has, each float input dtype, several batches
// per worker range, NaN and Inf groups, and unaligned inputs.
func TestAffineVectorMatchesScalar(t *testing.T) {
	if !simd.Enabled {
		t.Skip("no vector kernels on this CPU: only the scalar path runs")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, dt := range []DType{BF16, F16, F32} {
		for _, gs := range []int{32, 64, 128} {
			for _, bits := range []int{2, 3, 4, 5, 6, 8} {
				rows, cols := 1+r.IntN(40), gs*(1+r.IntN(12))
				w := vectorTestWeight(r, dt, rows*cols, gs)
				if r.IntN(3) == 0 { // unaligned source
					w = append([]byte{0}, w...)[1:]
				}
				p := QuantParams{Mode: Affine, Bits: bits, GroupSize: gs}
				var vec, sca Quantized
				var err error
				withVector(true, func() { vec, err = Quantize(w, dt, []int{rows, cols}, p) })
				require.NoError(t, err)
				withVector(false, func() { sca, err = Quantize(w, dt, []int{rows, cols}, p) })
				require.NoError(t, err)
				name := func(what string) string { return fmt.Sprintf("%s %s gs%d bits%d", what, dt, gs, bits) }
				require.Equal(t, sca.Weight, vec.Weight, name("weight"))
				require.Equal(t, sca.Scales, vec.Scales, name("scales"))
				require.Equal(t, sca.Biases, vec.Biases, name("biases"))
			}
		}
	}
}

// TestCastBF16F16Vector casts every bfloat16 value to float16, in ranges
// with and without NaNs and of lengths that are not multiples of the vector
// block, with the vector kernel and without, against F32ToF16.
func TestCastBF16F16Vector(t *testing.T) {
	all := make([]byte, 2<<16)
	for i := range 1 << 16 {
		binary.LittleEndian.PutUint16(all[2*i:], uint16(i))
	}
	finite := make([]byte, 0, len(all))
	for i := range 1 << 16 {
		if v := BF16ToF32(uint16(i)); v == v {
			finite = binary.LittleEndian.AppendUint16(finite, uint16(i))
		}
	}
	for _, src := range [][]byte{all, finite, finite[:2*1001], all[2*0x7f70 : 2*0x7fa3]} {
		for _, on := range []bool{true, false} {
			var dst []byte
			var err error
			withVector(on, func() { dst, err = Cast(src, BF16, F16) })
			require.NoError(t, err)
			for i := 0; i < len(src); i += 2 {
				h := binary.LittleEndian.Uint16(src[i:])
				require.Equal(t, F32ToF16(BF16ToF32(h)), binary.LittleEndian.Uint16(dst[i:]), "bf16 %#04x vector %v", h, on)
			}
		}
	}
}
