package source

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/mlx"
)

// awqOrder is AutoAWQ's nibble order: nibble k of a packed word holds
// output column 8j+awqOrder[k]... read the other way round, column 8j+k
// sits at nibble awqOrder[k].
var awqOrder = [8]uint{0, 4, 1, 5, 2, 6, 3, 7}

// awqUnpack unpacks a [rows, cols/8] int32 AWQ-packed matrix into
// [rows, cols] 4-bit codes (mlx-lm's _unpack_awq_weights).
func awqUnpack(packed []byte, rows, packedCols int) []uint8 {
	cols := packedCols * 8
	out := make([]uint8, rows*cols)
	for r := 0; r < rows; r++ {
		for j := 0; j < packedCols; j++ {
			w := binary.LittleEndian.Uint32(packed[(r*packedCols+j)*4:])
			for k := 0; k < 8; k++ {
				out[r*cols+j*8+k] = uint8(w>>(awqOrder[k]*4)) & 0xF
			}
		}
	}
	return out
}

// awqWeight repacks a qweight [in, out/8] into an MLX 4-bit weight
// [out, in/8]: unpack in AWQ order, transpose, pack LSB first.
func awqWeight(q []byte, in, packedOut int) ([]byte, error) {
	if len(q) != in*packedOut*4 || in%8 != 0 {
		return nil, fmt.Errorf("awq qweight: %d bytes for [%d, %d]", len(q), in, packedOut)
	}
	codes := awqUnpack(q, in, packedOut) // [in, out]
	out := packedOut * 8
	res := make([]byte, out*in/8*4)
	for o := 0; o < out; o++ {
		for p := 0; p < in/8; p++ {
			var w uint32
			for k := 0; k < 8; k++ {
				w |= uint32(codes[(p*8+k)*out+o]) << (4 * k)
			}
			binary.LittleEndian.PutUint32(res[(o*(in/8)+p)*4:], w)
		}
	}
	return res, nil
}

// transpose2D transposes a row-major [rows, cols] matrix of elem-byte
// elements.
func transpose2D(src []byte, rows, cols, elem int) []byte {
	dst := make([]byte, len(src))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			copy(dst[(c*rows+r)*elem:(c*rows+r+1)*elem], src[(r*cols+c)*elem:])
		}
	}
	return dst
}

// floatAt and putFloat read and write one element of a float dtype.
func floatAt(b []byte, i int, dt mlx.DType) float32 {
	switch dt {
	case mlx.F16:
		return mlx.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	case mlx.BF16:
		return mlx.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	case mlx.F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	case mlx.F64:
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
	}
	return 0
}

func putFloat(b []byte, i int, dt mlx.DType, v float32) {
	switch dt {
	case mlx.F16:
		binary.LittleEndian.PutUint16(b[2*i:], mlx.F32ToF16(v))
	case mlx.BF16:
		binary.LittleEndian.PutUint16(b[2*i:], mlx.F32ToBF16(v))
	case mlx.F32:
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	case mlx.F64:
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(v)))
	}
}

// awqBiases computes MLX biases [out, groups] = -zeros * scales in float32,
// rounded to the scales' dtype: scalesT is the transposed scales
// [out, groups]; qzeros [groups, out/8] int32 or nil (zero point 8).
func awqBiases(scalesT []byte, dt mlx.DType, out, groups int, qzeros []byte) ([]byte, error) {
	if len(scalesT) != out*groups*dt.Size() || !dt.IsFloat() {
		return nil, fmt.Errorf("awq scales: %d bytes for [%d, %d] %s", len(scalesT), out, groups, dt)
	}
	var zeros []uint8 // [groups, out]
	if qzeros != nil {
		if len(qzeros) != groups*out/8*4 {
			return nil, fmt.Errorf("awq qzeros: %d bytes for [%d, %d]", len(qzeros), groups, out/8)
		}
		zeros = awqUnpack(qzeros, groups, out/8)
	}
	res := make([]byte, len(scalesT))
	for o := 0; o < out; o++ {
		for g := 0; g < groups; g++ {
			z := float32(8)
			if zeros != nil {
				z = float32(zeros[g*out+o])
			}
			i := o*groups + g
			putFloat(res, i, dt, -z*floatAt(scalesT, i, dt))
		}
	}
	return res, nil
}
