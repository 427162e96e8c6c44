// Package mlxbackend is the "mlx" implementation of mlx.Backend: MLX itself,
// through libmlxc (package bridge, which loads it at run time with purego),
// with the Array API over MLX arrays, and Select, which picks the backend
// for the "auto", "mlx" and "native" kinds.
//
// It is split from package mlx so that mlx (dtypes, quantization modes,
// the pure-Go kernels, the Native backend) and mlx/safetensors link no
// purego: only importers of this package pay for the bridge.
//
// # Contract
//
//   - Nothing is loaded at import time. OpenMLX (and Select for "mlx" or
//     "auto") finds libmlxc as bridge.Search does, or takes
//     MLXOptions.Library, loads it and smoke-tests an affine 8-bit
//     quantize/dequantize round trip before returning.
//   - "auto" falls back to mlx.OpenNative with mlx.BackendInfo.Fallback
//     saying why in one line; "mlx" makes any failure an error. Searched
//     candidates that are no usable libmlxc are skipped ("auto", listed in
//     BackendInfo.Skipped) or an error ("mlx").
//   - MLX validates its inputs as mlx.Native does (mlx.CheckCast,
//     mlx.CheckQuantized, mlx.QuantizedShapes) and its errors wrap the
//     same sentinels (mlx.ErrCast, mlx.ErrQuant, mlx.ErrDType) or the
//     bridge's (bridge.ErrNotFound, bridge.ErrSmoke, ...).
//   - All MLX calls run on the bridge's one OS thread: an MLX backend is
//     safe for concurrent use but does not run calls in parallel.
//
// Non-goals: no kernels of its own (the arithmetic is MLX's; package mlx
// reproduces it in Go), no cgo.
package mlxbackend
