package model

import "errors"

// Sentinel errors of the shared model layer. convert re-exports them
// (convert.ErrConfig == model.ErrConfig; ggufexport.ErrUnsupported ==
// convert.ErrUnsupported == model.ErrUnsupported), so their texts are
// convert's.
var (
	// ErrConfig reports a missing or malformed config.json field.
	ErrConfig = errors.New("convert: invalid config")
	// ErrWeights reports checkpoint tensors that do not match the model the
	// config describes: unknown or missing names, wrong shapes or dtypes.
	ErrWeights = errors.New("convert: weights do not match the model")
	// ErrUnsupported reports a model type or checkpoint feature mlxconv
	// does not convert or export. It is returned before any weight is read.
	ErrUnsupported = errors.New("convert: unsupported model")
)

// ErrExport reports a model, config or option the GGUF exporter cannot
// handle (ggufexport re-exports it).
var ErrExport = errors.New("gguf: cannot export")
