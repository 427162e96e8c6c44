package source

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
)

// TestWidenScale: a Widen scaling is the GGUF converter's arithmetic on
// the float32 copy: each factor in turn, then the row factor, every
// product rounded to float32 (a float16 source to float16); MLX's
// ValueScale rounds the factor product to the dtype instead.
func TestWidenScale(t *testing.T) {
	bf := func(vals ...float32) []byte {
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(math.Float32bits(v)>>16))
		}
		return b
	}
	f32 := func(b []byte) []float32 {
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	}
	key, attn := 0.390625, 0.3
	tests := []struct {
		name  string
		dt    mlx.DType
		in    []byte
		shape []int
		sc    model.Scaling
		want  []float32
	}{
		{"two factors in turn", mlx.BF16, bf(1.5, -3), []int{2}, model.Scaling{Widen: true, Steps: []float64{key, attn}},
			[]float32{1.5 * float32(key) * float32(attn), -3 * float32(key) * float32(attn)}},
		{"rows after the factor", mlx.BF16, bf(1, 1, 2, 2), []int{2, 2}, model.Scaling{Widen: true, Steps: []float64{1.25}, Rows: []float64{0.1, 0.5}},
			[]float32{1.25 * float32(0.1), 1.25 * float32(0.1), 2.5 * 0.5, 2.5 * 0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := scaleValues(tc.in, tc.shape, tc.dt, &tc.sc)
			require.NoError(t, err)
			assert.Equal(t, tc.want, f32(out))
		})
	}
	// MLX's own scaling differs: the product rounded to bfloat16.
	out, err := scaleValues(bf(1.5), []int{1}, mlx.BF16, &model.Scaling{By: key * attn})
	require.NoError(t, err)
	assert.Len(t, out, 2)
	// float16 sources stay float16 in the converter.
	h := []byte{0x00, 0x3c} // 1.0
	out, err = scaleValues(h, []int{1}, mlx.F16, &model.Scaling{Widen: true, Steps: []float64{0.1}})
	require.NoError(t, err)
	assert.Equal(t, floatAt(putF16(float32(0.1)), 0, mlx.F16), f32(out)[0])
}

func putF16(v float32) []byte {
	b := make([]byte, 2)
	putFloat(b, 0, mlx.F16, v)
	return b
}
