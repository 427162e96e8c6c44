package ggufexport

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/mlx"
)

// TestRepackMXFP4 holds the MXFP4 repack (MLX mxfp4, or a Hub checkpoint's
// *_blocks viewed as uint32, into GGML's block_mxfp4) to the converter's
// own: the e8m0 scale byte first, then 16 bytes with code j in the low
// nibble of byte j and code j+16 in its high nibble. The source packs code
// 2i in the low and 2i+1 in the high nibble of byte i (MLX's LSB-first
// words, openai's blocks alike). The expected blocks are
// GptOssModel.transform_nibble_layout's output for the same bytes, and the
// values are what gguf-py's MXFP4 dequantizer reads from that block, so a
// swapped nibble order, a misplaced scale or another block layout fails.
func TestRepackMXFP4(t *testing.T) {
	// codes 0 6 14 1 6 13 15 3 9 1 4 9 0 2 6 12 | 7 10 15 6 8 12 2 10 13 2 9 11 15 5 13 0
	src := []byte{96, 30, 214, 63, 25, 148, 32, 198, 167, 111, 200, 162, 45, 185, 95, 13}
	ggml := []byte{112, 166, 254, 97, 134, 205, 47, 163, 217, 33, 148, 185, 240, 82, 214, 12}
	cases := []struct {
		name   string
		packed []byte // one or more rows of 32 codes
		scales []byte // e8m0, one per row
		want   []byte // GGML blocks
		values []float32
	}{
		{
			name: "converter golden, scale 2^3", packed: src, scales: []byte{130}, want: append([]byte{130}, ggml...),
			values: []float32{0, 32, -32, 4, 32, -24, -48, 12, -4, 4, 16, -4, 0, 8, 32, -16,
				48, -8, -48, 32, 0, -16, 8, -8, -24, 8, -4, -12, -48, 24, -24, 0},
		},
		{
			name: "two rows, scales 2^0 and 2^-2", packed: append(append([]byte{}, src...), ggml...), scales: []byte{127, 125},
			want: append(append([]byte{127}, ggml...), append([]byte{125}, 0x90, 0xd7, 0x16, 0x2a, 0x4e, 0x9f, 0x91, 0xb6,
				0x06, 0xf8, 0x2d, 0x5c, 0x6f, 0xd2, 0xc3, 0x0a)...),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := len(tc.scales)
			op := &tensorOp{mode: opRepack, out: gguf.MXFP4, ne0: 32, q: mlx.QuantParams{Mode: mlx.MXFP4, Bits: 4, GroupSize: 32},
				scaleDType: mlx.U8}
			var st repackStats
			out, err := op.transform([][]byte{tc.packed, tc.scales}, int64(rows), &st)
			require.NoError(t, err)
			require.Len(t, out, 1)
			require.Equal(t, tc.want, out[0])
			require.Equal(t, int64(rows), st.blocks.Load())
			require.Zero(t, st.inexact.Load())
			if tc.values == nil {
				return
			}
			// MLX's own reading of the source equals gguf-py's reading of
			// the block (the values above).
			deq, err := mlx.Dequantize(mlx.Quantized{Weight: tc.packed, WeightShape: []int{rows, 4}, Scales: tc.scales,
				ScaleShape: []int{rows, 1}, ScaleDType: mlx.U8}, op.q, mlx.F32)
			require.NoError(t, err)
			got := make([]float32, len(tc.values))
			for i := range got {
				got[i] = math.Float32frombits(binary.LittleEndian.Uint32(deq[4*i:]))
			}
			require.Equal(t, tc.values, got)
		})
	}
}
