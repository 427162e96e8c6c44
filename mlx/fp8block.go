package mlx

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DequantFP8Block dequantizes block-scaled float8_e4m3fn weights (the
// DeepSeek-V3 / Kimi-K2 / Qwen3-FP8 checkpoint format) exactly as
// mlx-lm's deepseek_v3 sanitize does: mx.from_fp8 to bfloat16 (exact),
// times the block's float32 scale in float32 (bfloat16 × float32 promotes
// to float32), rounded to bfloat16 (astype). w holds the elements
// [e0, e0+len(w)) of a row-major matrix with cols columns; scales holds the
// float32 little-endian scales of its block×block blocks, ceil(cols/block)
// per block row (the padding mlx-lm adds is cropped again, so it never
// shows). dst receives len(w) bfloat16 values (2 bytes each).
func DequantFP8Block(dst, w, scales []byte, cols, block int, e0 int64) error {
	return DequantFP8BlockTo(dst, BF16, w, scales, cols, block, e0)
}

// DequantFP8BlockTo is DequantFP8Block writing dtype to: BF16 (mlx-lm's
// rounding), or F32, the float32 products themselves (4 bytes each), as
// convert_hf_to_gguf.py's dequant_model keeps them.
func DequantFP8BlockTo(dst []byte, to DType, w, scales []byte, cols, block int, e0 int64) error {
	if cols <= 0 || block <= 0 || e0 < 0 {
		return fmt.Errorf("mlx: fp8 block dequant: %d columns, block %d, offset %d", cols, block, e0)
	}
	if to != BF16 && to != F32 {
		return fmt.Errorf("mlx: fp8 block dequant to %s", to)
	}
	if len(dst) != to.Size()*len(w) {
		return fmt.Errorf("mlx: fp8 block dequant: %d output bytes for %d elements of %s", len(dst), len(w), to)
	}
	sc := (cols + block - 1) / block
	if len(w) > 0 {
		last := (e0 + int64(len(w)) - 1) / int64(cols) / int64(block)
		if need := (last + 1) * int64(sc) * 4; int64(len(scales)) < need {
			return fmt.Errorf("mlx: fp8 block dequant: %d scale bytes, need %d", len(scales), need)
		}
	}
	row, col := int(e0/int64(cols)), int(e0%int64(cols))
	for i := 0; i < len(w); {
		n := min(cols-col, len(w)-i)
		srow := scales[(row/block)*sc*4:]
		for j := 0; j < n; j++ {
			c := col + j
			s := math.Float32frombits(binary.LittleEndian.Uint32(srow[(c/block)*4:]))
			v := FP8E4M3ToF32(w[i+j]) * s
			if to == F32 {
				binary.LittleEndian.PutUint32(dst[4*(i+j):], math.Float32bits(v))
			} else {
				binary.LittleEndian.PutUint16(dst[2*(i+j):], F32ToBF16(v))
			}
		}
		i += n
		row, col = row+1, 0
	}
	return nil
}
