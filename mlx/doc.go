// Package mlx holds MLX's element types and quantization modes, and pure-Go
// kernels that reproduce MLX's arithmetic bit for bit: dtype casts,
// quantization (affine, mxfp4, nvfp4, mxfp8) and dequantization, on host
// byte buffers. It also defines the Backend interface, implemented here by
// the Native backend (OpenNative) and, over libmlxc, by package
// mlx/mlxbackend, which also selects between the two (mlxbackend.Select).
// Package mlx links no native code: it does not import package bridge or
// purego, and builds and tests with CGO_ENABLED=0 and no libmlxc present.
//
// # Contract
//
// Buffers hold little-endian elements in row-major order; shapes count
// elements per dimension. Kernels never retain or modify their inputs and
// write only the output buffers they are given or return. Given the same
// inputs and parameters they produce the same bytes on every platform and
// for every worker count.
//
// Reproduced arithmetic (MLX 0.32.4, checked against the real MLX):
//
//   - Scalar conversions (F32ToF16, F32ToBF16, F32ToFP8E4M3, ...) and Cast
//     match MLX's x86 CPU backend: round to nearest even, MLX's NaN
//     encodings, float64 narrowed through float32.
//   - Quantize with RoundingCPU matches mx.quantize on MLX's CPU: the native
//     affine kernel (float32 math, half-to-even rounding) and, for the fp
//     modes, the composed-op fallback computed in the weight's dtype with a
//     rounding after every op, the FP4 argmin tie rule, and MX scale
//     exponents rounded up (ceil(log2(amax/maxval)), MLX ≥ 0.32.4). Unlike
//     MLX's CPU, NVFP4 also accepts tensors whose element count is not a
//     multiple of 32 (MLX's fallback fails on a reshape there).
//   - Quantize with RoundingMetal follows MLX's Metal kernels: affine max
//     starting at 0 and halves rounded away from zero; fp modes in float32,
//     amax/maxval encoded as an e8m0 rounded up (ml-explore/mlx#4353) or as
//     e4m3, elements multiplied by the decoded scale's reciprocal and
//     rounded to nearest even, FP4 keeping the sign. It is derived from the
//     kernel sources and unit-tested by hand; no Metal device checked it
//     (Metal's own log2 and NaN handling may differ in corner cases).
//   - Dequantize matches mx.dequantize on MLX's CPU (composed ops, each
//     rounded to its dtype, without fused multiply-adds), for either
//     rounding.
//
// Quantized layout: the packed weight is a little-endian LSB-first bitstream
// of uint32 words ([..., K*bits/32]); scales (and affine biases) have one
// entry per group ([..., K/groupSize]).
//
// # Errors and limits
//
// Invalid parameters, shapes or buffer sizes return errors wrapping ErrQuant
// (quantization) or ErrCast (casts); nothing panics on bad input. The
// kernels split work over at most Workers() goroutines (SetWorkers), or the
// Native backend's own count, and allocate nothing per element.
//
// Non-goals: no file formats (see package safetensors), no GPU, and no
// other MLX versions' arithmetic (MLX 0.31 rounded MX scale exponents to
// nearest and decoded FP8 0x7F as 480).
package mlx
