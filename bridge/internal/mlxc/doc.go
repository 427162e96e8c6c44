// Package mlxc is the raw, purego-level binding of the few libmlxc (mlx-c)
// functions mlxconv uses. It is the only package in the module that imports
// github.com/ebitengine/purego.
//
// Contract:
//   - Nothing happens at import time. Load opens one library file explicitly,
//     resolves every required symbol eagerly (reporting all missing names),
//     probes optional symbols to pick the ABI generation, and returns a
//     Library whose Symbols are typed Go func values. It makes no C call.
//   - Handles (mlx_array, mlx_stream, mlx_vector_array, mlx_string) are
//     one-pointer structs passed by value in C; they are bound as named
//     uintptr types, which is ABI-identical on SysV x86-64 and AAPCS64.
//     mlx_optional_int and mlx_optional_dtype are packed into a uint64
//     (see OptInt). No purego struct classification is used.
//   - Thread affinity, the error handler, ownership of handles and turning
//     return codes into errors are the caller's job (package bridge).
//
// Loading needs a platform purego supports without cgo: darwin or linux on
// amd64 or arm64. Elsewhere, and with the nomlx build tag, Load returns an
// error wrapping ErrUnsupported (see Supported).
package mlxc
