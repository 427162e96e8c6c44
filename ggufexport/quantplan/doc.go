// Package quantplan chooses, per tensor, the type llama-quantize gives it
// for a K-quant, IQ4 or ternary file type (Q2_K, Q3_K_S/M/L, Q4_K_S/M,
// Q5_K_S/M, Q6_K, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0): the rules of llama.cpp's src/llama-quant.cpp
// (llama_tensor_get_type and friends, as vendored by the pinned
// llama-cpp-python 0.3.36 sdist), by tensor role (output, token_embd,
// attn_v/attn_qkv/attn_kv_b, attn_k, attn_output, ffn_down, …), layer index
// (use_more_bits), GQA ratio, expert count and row width (the fallbacks when
// a row is not a multiple of the block size), plus llama-quantize's knobs
// (--pure, --leave-output-tensor, --output-tensor-type,
// --token-embedding-type, --tensor-type, the presence of an imatrix) and
// the order llama-quantize writes tensors in.
//
// # Contract
//
// Plan is a pure function of the file type, a few model facts (read from
// the GGUF KVs: architecture, block count, head counts, expert count) and
// the tensors as the bf16 intermediate holds them (name, type, ggml shape):
// it returns the type llama-quantize writes for each. The rules are data
// where they are per file type (fileTypes) and small functions by role
// where they depend on the layer. No rule names a model family; the only
// architecture facts are llama.cpp's own (falcon's ffn_down mix, the
// architectures whose 80-layer (jais2: 68) configuration llama.cpp calls
// 70B).
//
// # Non-goals
//
// The arithmetic (package gguf/kquant), reading imatrix files (package
// ggufexport), the IQ1/IQ2/IQ3, TQ and MXFP4_MOE file types (their branches
// of llama_tensor_get_type_impl are not reproduced). --tensor-type patterns
// are Go regular expressions (RE2), where llama-quantize uses std::regex
// (ECMAScript): the plain names and simple classes people pass
// (attn_v=q8_0, blk\.[0-3]\.ffn_down=q6_k) mean the same in both.
package quantplan
