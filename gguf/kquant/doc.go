// Package kquant quantizes float32 rows to ggml's block types the way
// llama-quantize does, byte for byte, and dequantizes them: Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, the ternary TQ1_0 and TQ2_0, and the
// 32-element Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
//
// # Contract
//
// Quantize(t, dst, src, nrows, ncols, imatrix) writes what ggml's
// ggml_quantize_chunk writes for the same arguments (ggml as vendored by the
// pinned llama-cpp-python 0.3.36 sdist, ggml/src/ggml-quants.c), which is what
// llama-quantize stores for a tensor of that type: the reference paths
// (quantize_row_*_ref) without an importance matrix and the weighted ones
// (quantize_row_*_impl, quantize_iq4_*) with one, including ggml's helper
// searches (make_qx_quants, make_q3_quants, make_qkx2/qkx3_quants,
// make_qp_quants), its round-half-to-even nearest_int, GROUP_MAX_EPS, the
// fp16 rounding of scales (GGML_FP32_TO_FP16, round to nearest even) and
// the IQ4_NL level table. The float arithmetic is float32 in the C
// evaluation order, every operation rounded on its own (no fused
// multiply-add: ggml's reference build has none either); float-to-integer
// casts follow x86-64 (cvttss2si), lroundf glibc's. scripts/oracle's
// TestKQuantOracle compares Quantize and Dequantize with ggml compiled from
// the same sdist.
//
// Exceptions: NaN and ±Inf inputs are refused (ErrNonFinite); for finite
// inputs whose intermediate sums overflow, the bytes are those of ggml on
// x86-64 (on arm64 ggml's float-to-integer casts saturate instead).
//
// # Vector kernels
//
// The scalar Go code is the definition and the only path on CPUs without
// internal/simd's kernels (and under -tags purego). On amd64 with AVX2 the
// searches that dominate (make_qkx2/qkx3_quants, make_qx_quants, IQ4's
// scale and level search, the final rounding of each group) run eight
// groups at once, one per vector lane, each lane doing the scalar code's
// float32 operations in its order (vector.go); the tests in
// vector_internal_test.go compare both paths on every input class.
//
// Dequantize(t, dst, src) equals ggml's dequantize_row_* for any bytes.
// QuantizeParallel splits the rows among goroutines (rows are independent,
// as in llama-quantize's threads) and writes the same bytes.
//
// # Non-goals
//
// Choosing a type per tensor (llama-quantize's ftype rules) and reading
// importance-matrix files belong to the exporter. The IQ1, IQ2 and IQ3 types (grid searches)
// are not here. Package gguf's own AppendQuantize stays the gguf-py
// definition (Q8_0 and the other 32-element types as convert_hf_to_gguf.py
// writes them), which differs from ggml's only in the sign of a zero d or m
// in blocks holding negative zeros (TestKQuantOracle logs the count) and for
// non-finite input.
package kquant
