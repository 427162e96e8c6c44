// Package simd holds the few vector kernels that the float and quantization
// hot paths of packages mlx and gguf hand to the CPU's vector unit: widening
// 16-bit floats, per-group minimum and maximum, MLX's affine quantization of
// whole groups, the bfloat16 → float16 cast, and the scale searches of
// ggml's K-quants for gguf/kquant (kquant.go: eight groups at once, one per
// lane).
//
// Every function computes exactly what the scalar Go code it stands in for
// computes, bit for bit; the scalar code stays the definition (and the only
// path on other CPUs), and the tests compare the two on every input class.
// The vector code runs only on amd64 with AVX2 and F16C (see Enabled);
// each function reports false when it cannot run and leaves the work to the
// caller, so callers always keep their scalar path.
//
// The vector kernels use IEEE float32 operations in the default rounding
// mode (round to nearest even, no flush to zero), which Go programs keep.
package simd
