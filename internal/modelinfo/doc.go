// Package modelinfo describes safetensors weights for `mlxconv inspect`: a
// single safetensors file or a model folder (MLX or Hugging Face, sharded
// with model.safetensors.index.json or not).
//
// Describe is pure: from the tensor headers and config.json it derives the
// tensor table, the per-dtype summary, the quantization (config.json's
// "quantization" with its per-module entries; modules recognised by their
// .scales/.biases tensors), the parameter count as mlx-lm counts it (a
// quantized weight at its float size, scales and biases not counted) and
// the bits per weight (all bytes × 8 / parameters). OpenFile and OpenDir
// read the headers with the strict readers (mlx/safetensors,
// model/source.LoadWeights) and never touch tensor data; their errors name
// the file quoted.
//
// Non-goals: no tensor data is read or checked (no checksums, no value
// statistics), no model family is required or recognised beyond printing
// config.json's model_type, and GGUF files are cmd/mlxconv's gguf.File
// reporting, not this package's.
package modelinfo
