// Package bridge runs MLX operations through libmlxc, MLX's C API, loaded
// at run time with purego: no cgo, no build-time dependency on MLX.
//
// # Contract
//
//   - Nothing is loaded at import time. Find locates a library (the
//     MLXC_LIBRARY override, then Homebrew /opt/homebrew/lib, MacPorts
//     /opt/local/lib and /usr/local/lib on macOS, or the usual lib folders
//     on Linux); Open loads it. Before the dynamic loader sees a file,
//     Open checks it with debug/elf or debug/macho (CheckLibrary): a
//     truncated library would crash the process inside dlopen, so segments
//     must lie inside the file, the CPU must match, and the mlx-c symbols
//     must be exported (ErrBadLibrary, ErrNotMLXC). Search skips searched
//     candidates that fail the check and says why. Open resolves every
//     required symbol (naming the missing ones), selects the ABI from
//     optional symbols (mlx-c 0.4
//     and 0.5, or 0.6+ whose quantize/dequantize take a global_scale),
//     installs the error handler before any other call so that mlx-c never
//     calls exit, and smoke-tests the library with mlx_version.
//   - Every call into a library runs on one goroutine locked to its OS
//     thread, because MLX (>= 0.31.2) keeps streams per thread. Lib and
//     Array methods may be called from any goroutine; they are serialized.
//   - Failed C calls become *Error values carrying the C function, its
//     return code and MLX's message. Other failures wrap the exported
//     sentinels (ErrNotFound, ErrSymbol, ErrABI, ErrSmoke, ...).
//   - Handles are freed explicitly by Array.Close and Lib.Close, on the
//     library's thread; there are no finalizers. Open bounds MLX's buffer
//     cache (mlx_set_cache_limit) and Lib.Close clears it.
//   - Array data crosses the boundary by copy: FromBytes copies host bytes
//     into MLX, Bytes copies results out. Go memory is never retained by C.
//   - The public API shows no purego types; the binding itself lives in
//     bridge/internal/mlxc, the only purego user in the module.
//
// Tests build a fake libmlxc from bridge/testdata with the system C
// compiler (package bridgetest) and load it through this package.
//
// A Lib uses the CPU stream by default, and the GPU stream on macOS when
// Metal is available (Options.Device overrides). MLX's CPU and Metal
// kernels round differently; callers that need bit-exact results choose
// the device accordingly.
//
// # Platforms
//
// Loading works on darwin and linux, amd64 and arm64, with CGO_ENABLED=0.
// Elsewhere, and when built with the nomlx tag, Open and Available return
// an error wrapping ErrUnsupported; the package still compiles.
//
// # Non-goals
//
// Only the handful of operations a converter needs are bound: arrays from
// host bytes, astype, quantize, dequantize, eval and reading results.
// Successfully opened libraries are never unloaded.
package bridge
