// Package model is what the MLX and GGUF sinks share about models: the
// config.json accessor (Config, with mlx-lm's dataclass semantics), the
// MLX parameter tree and its builder (Tree, Builder), the hyperparameters
// as llama.cpp's converter reads them (HParams, Rope, Meta), and the
// Family type the registry in model/family is made of.
//
// # One family, one file
//
// A Family is one Go value in one file of model/family, listed once in
// family.All (no init() registration). It carries every model_type it
// covers and two parts:
//
//   - MLX: Build (the parameter tree mlx-lm builds from the config, which
//     also says which modules are quantizable), Rules (the model's
//     sanitize as data: Drop, Rename, TiedHead, OptionalHead, Require,
//     StackExperts, Split, Transform, applied in order), Sanitize (a hook
//     for what the rules cannot express) and Pred (the model's own
//     quant_predicate).
//   - GGUF: the architecture name, the tensor-name map, expert order, the
//     tensor transforms as flags (PermuteQK, NormShift, DropHead,
//     TrimEmbd), Params (set_gguf_parameters over Meta), Extra (generated
//     tensors), Configs (the transformers config classes' defaults and
//     derived values, as data) and the tokenizer rules (SetVocab over the
//     VocabLoader interface, TokenizerClass).
//
// The dense decoders (llama, qwen2, qwen3, gemma, gemma2, phi3) share one
// builder: each describes itself as a Dense value. Helpers that several
// families use (TextParams, CommonLayer, RouterPred, DefaultVocab) live
// here, never a family's name: model/source (the checkpoint layer both
// sinks share), convert and ggufexport look families up (family.Lookup,
// family.LookupGGUF, family.VocabRules) and name none.
//
// Sentinel errors keep the texts of the packages that re-export them
// (convert.ErrConfig == ErrConfig, convert.ErrUnsupported ==
// ggufexport.ErrUnsupported == ErrUnsupported, ggufexport.ErrExport ==
// ErrExport), so
// messages and errors.Is checks are unchanged.
package model
