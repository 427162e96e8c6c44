package mlx

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// FP4 code 8 is negative zero: MLX dequantizes it to -0 (Metal writes it for
// tiny negative inputs), so our dequantize must keep the sign bit.
func TestFP4CodeEightIsNegativeZero(t *testing.T) {
	for _, mode := range []QuantMode{MXFP4, NVFP4} {
		p := QuantParams{Mode: mode, Bits: 4, GroupSize: mode.DefaultGroupSize()}
		w := make([]byte, 4*p.GroupSize/8)
		for i := range w {
			w[i] = 0x88 // every element is code 8
		}
		scales := make([]byte, 1)
		if mode == MXFP4 {
			scales[0] = 127 // 2^0
		} else {
			scales[0] = F32ToFP8E4M3(1)
		}
		out, err := Dequantize(Quantized{Weight: w, WeightShape: []int{1, p.GroupSize / 8}, Scales: scales,
			ScaleShape: []int{1, 1}, ScaleDType: U8}, p, F32)
		require.NoError(t, err)
		for i := 0; i < p.GroupSize; i++ {
			v := math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
			require.True(t, v == 0 && math.Signbit(float64(v)), "%s element %d = %v, want -0", mode, i, v)
		}
	}
}
