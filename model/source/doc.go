// Package source reads a checkpoint the way mlx-lm loads it, for both
// sinks: the MLX converter (package convert) and the GGUF exporter
// (package ggufexport).
//
//   - LoadInventory reads a model directory without touching tensor data:
//     config.json (an unsupported model_type fails here, before any shard
//     is opened; Preflight is this check alone), generation_config.json,
//     hf_quant_config.json, the safetensors headers of the shards the index
//     names (or model*.safetensors) and the auxiliary files a conversion
//     copies (IsAux).
//   - LoadModel matches the inventory against its family (model/family):
//     the loader's config edits, the parameter tree built from config.json,
//     the family's sanitize (renames, drops, expert stacks as Input values
//     over source tensors), the import of pre-quantized checkpoints (MLX,
//     mxfp4/mxfp8/nvfp4 configs, AutoAWQ/GPTQ repacked) and MLX's strict
//     name and shape check. It reads no tensor data.
//   - StreamJob lowers a job over a module's inputs to a job of the
//     pipeline executor over byte ranges of the shards, which the Inventory
//     serves as a pipeline.Source.
//
// Errors wrap model.ErrConfig, model.ErrWeights or model.ErrUnsupported
// (re-exported by convert and ggufexport).
package source
