package convert

import (
	"errors"

	"github.com/mlxconv/mlxconv/model"
)

// Sentinel errors. Errors returned by this package wrap one of these (or an
// error of a package it calls, such as safetensors.ErrFormat or
// mlx.ErrQuant), so callers can branch with errors.Is.
var (
	// ErrOptions reports invalid or contradictory options (bad flag values,
	// -q with -d, a recipe with a non-affine mode, a malformed rule).
	ErrOptions = errors.New("convert: invalid options")
	// ErrExists reports an output path that already exists (without Force).
	ErrExists = errors.New("convert: output path exists")
	// ErrUnsupported reports a model type or checkpoint feature mlxconv does
	// not convert (model.ErrUnsupported, which GGUF export shares). It is
	// returned before any weight is read.
	ErrUnsupported = model.ErrUnsupported
	// ErrConfig reports a missing or malformed config.json field.
	ErrConfig = model.ErrConfig
	// ErrWeights reports checkpoint tensors that do not match the model the
	// config describes: unknown or missing names, wrong shapes or dtypes.
	ErrWeights = model.ErrWeights
	// ErrHub reports a --hf-path that is not a local directory when no Hub
	// resolver is configured.
	ErrHub = errors.New("convert: Hub download unavailable")
)
