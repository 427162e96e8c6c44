// Package convert converts Hugging Face checkpoints into MLX models the way
// mlx_lm.convert does — dtype cast, quantization (affine, mxfp4, nvfp4,
// mxfp8, mixed-precision recipes, per-module rules), dequantization,
// re-saving of MLX-quantized and AutoAWQ/GPTQ checkpoints — streaming in
// bounded memory.
//
// # Pipeline
//
// Run is source → inventory → plan → execute → sink:
//
//   - The source layer, package model/source (shared with the GGUF
//     exporter), reads config.json (an unsupported model_type fails here,
//     before any shard is opened), generation_config.json and the
//     safetensors headers of the shards the index names (or
//     model*.safetensors), reading no tensor data; then it builds the
//     parameter tree mlx-lm would build for the model_type (one family per
//     file in model/family), runs the family's sanitize as renames, drops
//     and expert stacks, imports pre-quantized checkpoints and checks every
//     name and shape as MLX's strict load_weights does (source.LoadModel).
//   - Planning is pure: it decides each output tensor's dtype,
//     quantization, shard and offset with mlx-lm's rules (recipes,
//     per-model overrides, then Rules) and the output config.json. The
//     plan is plain data; Summary.WritePlan prints it (--dry-run) and
//     Summary.TensorPlan lists it.
//   - Execution lowers the plan's jobs to byte-range jobs of the one
//     executor, package pipeline, which runs them on a bounded pool of
//     workers into the MLX sink (pipeline.Run). Each job is split into
//     row ranges of a few MiB; a unit reads only its rows
//     from the input shards (positioned reads, no memory map, so input
//     pages stay in the page cache rather than in our resident set),
//     transforms them with the mlx.Backend, and writes the result at its
//     precomputed offset with io.WriterAt. On Linux the executor asks the
//     kernel to read ahead the input of the next units (fadvise), so I/O
//     overlaps computation. Peak memory is about workers × unit size,
//     independent of the model size.
//   - The MLX sink writes into a temporary sibling of the output directory
//     and renames it into place at the end; on any error or cancellation the
//     temporary directory is removed. The output is reserved through
//     internal/outsafe (shared with the GGUF sink): refused when it
//     overlaps the input, locked for the run, never replacing what was not
//     there at start without Force nor, with Force, anything but an earlier
//     output; leftovers of killed runs are cleaned up.
//
// # Parity with mlx_lm.convert
//
// For the same input and options, the output has the same tensor names,
// dtypes, shapes and bytes (with the native backend's CPU rounding, as
// mlx_lm.convert on a machine without a GPU), the same shard membership
// (module order, greedy up to MaxShardSize), the same safetensors header
// modulo data_offsets (MLX's writer lays tensors out in hash order; we lay
// them out in module order), byte-identical config.json and
// model.safetensors.index.json, and for a local source without a card the
// same README.md front matter; README.md's body (empty in mlx-lm's) holds
// the provenance and the recipe (package internal/modelcard), and a source
// card's front matter is kept for local sources as well.
//
// Differences by design: tokenizer files, chat_template.jinja/.json,
// generation_config.json and top-level *.py are copied verbatim (mlx-lm
// re-serialises the tokenizer through transformers and drops the chat
// template files); an existing output is replaced with Force; models that
// need custom Python code are refused; ModelArgs validations that only
// matter at inference time (e.g. rope_scaling contents) are not repeated.
//
// Progress events are pipeline.Progress values (stages pipeline.StagePlan,
// StageWrite, StageDone), the same for GGUF export.
//
// Non-goals: GGUF bytes (package gguf), Hub download and upload (hooks in
// Options), running models.
package convert
