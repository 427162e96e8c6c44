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
// inputs and parameters they produce the same bytes for every worker count,
// and on every platform except for the sign of a NaN that an invalid
// operation creates, which follows the CPU as MLX's does (see Reference per
// operation and platform).
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
//     rounding, with created NaNs as the CPU makes them (see below).
//
// # Reference per operation and platform
//
// Three MLX implementations are in play: MLX's CPU backend on linux/amd64
// (the oracle of ./build.sh test: scripts/oracle and testdata/golden.json.gz),
// the same CPU backend on arm64 (linux/arm64 and macOS on Apple silicon,
// where these kernels run whenever libmlxc is absent; its oracle is MLX's
// aarch64 wheel under qemu, scripts/oracle/arm64, whose README lists what
// it found), and
// MLX's Metal kernels (RoundingMetal; derived from the kernel sources, never
// run here, unverifiable in CI). Per operation:
//
//   - Rounding of products and sums: every operation is rounded to its dtype
//     on its own, never fused, on every platform. MLX's x86 CPU build has
//     no FMA contraction (no -mfma), its dequantize and fp-mode fallbacks are
//     chains of separate ops, and its affine quantize kernel has no
//     multiply-add ((max-min)/nbins, edge/scale, (w-bias)/scale); the arm64
//     oracle saw no fused result either. Go fuses x*y+z on arm64 (and on amd64 with
//     GOAMD64=v3) unless the product is converted, so every product that
//     feeds a sum is written float32(x*y)+z; ./build.sh test checks the arm64
//     machine code for fused instructions, runs the whole suite under
//     qemu-aarch64 and TestDequantizeNoFMA crafts outputs that fusion would
//     change.
//   - Casts and scalar conversions (F32ToF16, F32ToBF16, F32ToFP8E4M3, ...):
//     integer code, the same bits on every platform; checked against x86.
//   - NaNs created by an invalid operation (Inf−Inf or Inf/Inf in an affine
//     scale, 0·Inf in dequantize with an Inf scale, 0/0 and Inf·0 in fp-mode
//     scales): on the CPU they are the hardware's default NaN, negative on
//     x86, positive on ARM. RoundingCPU and every Dequantize follow the CPU
//     the program runs on (internal/fparith's Host rule: X86 on amd64 and
//     386, ARM elsewhere), as MLX does; two NaN operands follow the same
//     rule (x86: the first; ARM: a signaling one first). The sign reaches
//     float32 and float16 values (affine scales and biases, dequantized
//     outputs) and FP8 bytes (±448); bfloat16 values (MLX writes 0x7FC0 for
//     every NaN), FP4 codes and packed affine quants do not depend on it. The x86 goldens are checked on every platform with the
//     X86 rule pinned; the ARM rule is checked against the CPU under
//     qemu-aarch64 (fparith.TestHostMatchesCPU) and by the arm64 MLX
//     oracle (arm64 goldens are still to be committed).
//   - Float to integer conversions of NaN, ±Inf and out-of-range values
//     (MX scale exponents and bytes of groups whose amax is NaN, Inf or
//     tiny; see mxScale): C++ leaves them undefined and MLX's CPU inherits
//     the hardware's answer, so RoundingCPU follows the host's rule
//     (internal/fparith's F32ToI32 and F32ToU32). On x86 (CVTTSS2SI) NaN,
//     ±Inf and out-of-range exponents are MinInt32 and the scale byte is
//     the low byte of the int32 conversion. On ARM the exponent saturates
//     (+Inf → MaxInt32, NaN → 0: divisors Inf and 1 where x86 has 0), and
//     the scale byte depends on MLX's compiled loop: float32 and bfloat16
//     scales are converted in vectors through a saturating int32 (−7 → f9,
//     2^31 → ff), except the last n mod 8 (float32) or n mod 16 (bfloat16)
//     of a tensor's n scales and every float16 scale, converted one at a
//     time through a saturating uint32 (negative and NaN → 00, Inf → ff).
//     The index is the whole tensor's: callers quantizing a tensor in row
//     chunks say where each chunk lies (QuantParams.Chunk; package convert
//     does). Checked against MLX's aarch64 wheel under qemu (scripts/oracle/
//     arm64: every case passes) and, with the X86 rule pinned, against the
//     x86 goldens on every platform.
//   - RoundingMetal: the kernel sources' rules (above); its created NaNs use
//     the ARM rule on every platform (metalNaN; Apple's GPU rule is not
//     documented).
//
// Other architectures than amd64 and arm64 use the ARM rule but are not
// tested; one that does not propagate NaN payloads (riscv64) may change
// NaN inputs' payloads.
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
