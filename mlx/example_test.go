package mlx_test

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/mlx"
)

// Quantize a 2×64 float32 matrix to 4-bit affine with group size 32, as
// mx.quantize(w, group_size=32, bits=4) does on MLX's CPU, and back.
func Example() {
	w := make([]byte, 2*64*4)
	for i := range 2 * 64 {
		binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(float32(i%32)/4))
	}
	p := mlx.QuantParams{Mode: mlx.Affine, Bits: 4, GroupSize: 32}
	q, err := mlx.Quantize(w, mlx.F32, []int{2, 64}, p)
	if err != nil {
		panic(err)
	}
	fmt.Println(q.WeightShape, q.ScaleShape, q.ScaleDType)
	fmt.Printf("first word %#08x\n", binary.LittleEndian.Uint32(q.Weight))

	out, err := mlx.Dequantize(q, p, mlx.Invalid)
	if err != nil {
		panic(err)
	}
	fmt.Println(math.Float32frombits(binary.LittleEndian.Uint32(out[4*31:])))
	// Output:
	// [2 8] [2 2] float32
	// first word 0xccddeeff
	// 7.75
}

func ExampleF32ToBF16() {
	fmt.Printf("%#04x %#04x\n", mlx.F32ToBF16(1.00390625), mlx.F32ToBF16(float32(math.NaN())))
	// Output: 0x3f80 0x7fc0
}
