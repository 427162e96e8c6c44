package kquant_test

import (
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/gguf/kquant"
)

// Quantize two rows of 256 values to Q4_K (144 bytes per row, as ggml's
// ggml_quantize_chunk writes them) and read them back.
func ExampleQuantize() {
	const nrows, ncols = 2, 256
	src := make([]float32, nrows*ncols)
	for i := range src {
		src[i] = float32(math.Sin(float64(i) / 10))
	}
	rs, _ := kquant.RowSize(gguf.Q4_K, ncols)
	dst := make([]byte, nrows*rs)
	if err := kquant.Quantize(gguf.Q4_K, dst, src, nrows, ncols, nil); err != nil {
		panic(err)
	}
	back := make([]float32, nrows*ncols)
	n, _ := kquant.Dequantize(gguf.Q4_K, back, dst)
	var maxErr float64
	for i := range src {
		maxErr = math.Max(maxErr, math.Abs(float64(back[i]-src[i])))
	}
	fmt.Println(rs, "bytes per row,", n, "values back, max error below 0.1:", maxErr < 0.1)
	// Output: 144 bytes per row, 512 values back, max error below 0.1: true
}
