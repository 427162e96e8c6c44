// Package ggufexport maps models to GGUF: it writes a Hugging Face or MLX
// model directory as the GGUF file llama.cpp's convert_hf_to_gguf.py writes
// for it (mlxconv gguf), including the Hugging Face tokenizer as GGUF
// tokenizer.* metadata.
//
// # Contract
//
// Export writes the same metadata keys, value types, values and order
// (general.* from the model card, config and directory name; {arch}.* per
// architecture; tokenizer.* from the tokenizer files), the same tensor names, shapes,
// types, order and bytes (Q/K permutation for llama/mistral/mixtral, Gemma's
// norm +1, MoE experts stacked into *_exps, 1-D/norm/router tensors in F32,
// auto = bf16 or f16 as the checkpoint's first matrix), generated rope_freqs
// and Phi-3 rope factors. It shares the source layer with package convert
// (package model/source: inventory, family lookup, sanitize, expert
// stacks, strict shape check); the GGUF layout is planned first (a plain
// value ExportSummary.WritePlan prints for --dry-run: an inspect step reads
// the MLX scales and biases the repack decisions depend on, then planning
// reads no tensor data), then each tensor becomes a job of the one
// executor (package pipeline, through source.StreamJob) streaming into the
// GGUF sink, which writes package
// gguf's Plan into temporary files next to the output and renames them at
// the end; nothing is left on error. MLX-quantized
// weights are repacked without dequantizing where a GGUF type holds them
// (affine <= 4-bit -> Q4_1, 4-bit with bias = -8*scale -> Q4_0, 5-bit ->
// Q5_1, mxfp4 -> MXFP4; exact when the scales and biases fit float16,
// measured per block) and dequantized as MLX does otherwise (a family with
// model.GGUF.KeepMXFP4, gpt_oss, keeps its MXFP4 tensors, a Hub
// checkpoint's *_blocks/*_scales included, as MXFP4 whatever the output
// type, as the converter does); every tensor is
// reported exact or lossy (ExportSummary.Detail). Supported model types:
// family.GGUFModelTypes.
// Deviations from the converter are listed in the exporter's files
// (tokenizer: tokenizer*.go). Arithmetic reproduced from the converter
// (llama3 rope_freqs in torch float32, Phi-3 attention factors and size
// labels in Python floats) is rounded operation by operation, so the bytes
// do not depend on the CPU (see package gguf's reference table).
//
// # Layering
//
// The exporter is GGUF planning rules + a GGUF sink + tokenizer export, on
// top of lower layers it only calls: package gguf (the format: types,
// values, writer plan, split naming, block quantizers), model/source and
// model/family (the checkpoint and its family) and pipeline (the
// executor). It does not import package convert, and nothing below it
// imports this package; the CLI does.
//
// The package sits at the top level (ggufexport/) rather than under gguf/
// (gguf/export/): its package name then equals its directory, a call reads
// ggufexport.Export rather than a bare export.Export, and the gguf/ tree
// stays the format alone, so `go list -deps ./gguf/...` cannot pick up the
// model pipeline through a subpackage.
//
// # Non-goals
//
// Reading or writing GGUF bytes itself (package gguf), converting to MLX
// (package convert), the IQ1/IQ2/IQ3/TQ output types, running models.
//
// # K-quant output types
//
// --outtype q2_k … q6_k, iq4_nl, iq4_xs write the file
// convert_hf_to_gguf.py --outtype bf16 followed by llama-quantize writes:
// the bf16 plan, then package quantplan's per-tensor types (llama-quantize's
// rules and knobs), its tensor and KV order, and package gguf/kquant's
// arithmetic on the bf16 values, with an importance matrix (LoadImatrix)
// when given (kquant_export.go).
package ggufexport
