package bridge

import (
	"errors"
	"fmt"

	"github.com/mlxconv/mlxconv/bridge/internal/mlxc"
)

// Sentinel errors. Every error from this package wraps one of them or is an
// *Error; use errors.Is / errors.As to branch.
var (
	// ErrUnsupported: this build cannot load libmlxc (platform or nomlx tag).
	ErrUnsupported = mlxc.ErrUnsupported
	// ErrNotFound: no libmlxc at MLXC_LIBRARY or in the standard places.
	ErrNotFound = errors.New("bridge: libmlxc not found")
	// ErrBadLibrary: the file cannot be a library for this process
	// (empty, truncated, not ELF/Mach-O, another architecture, not a
	// shared object); found before the dynamic loader sees it.
	ErrBadLibrary = mlxc.ErrBadLibrary
	// ErrNotMLXC: a valid shared library that is not mlx-c (libmlx itself,
	// libz, ...).
	ErrNotMLXC = mlxc.ErrNotMLXC
	// ErrLoad: the dynamic loader refused the file (when the libmlx it
	// needs is missing, the message says how to fix that).
	ErrLoad = mlxc.ErrLoad
	// ErrSymbol: the library lacks required symbols (all are named).
	ErrSymbol = mlxc.ErrSymbol
	// ErrABI: the library is older than mlx-c 0.4.0, or an operation needs
	// a newer ABI (global_scale needs 0.6).
	ErrABI = mlxc.ErrABI
	// ErrSmoke: the library loaded but its first calls failed.
	ErrSmoke = errors.New("bridge: libmlxc failed its smoke test")
	// ErrDevice: the requested device is not available.
	ErrDevice = errors.New("bridge: device not available")
	// ErrClosed: the Lib or Array was closed.
	ErrClosed = errors.New("bridge: closed")
	// ErrArgument: invalid arguments, rejected before any C call.
	ErrArgument = errors.New("bridge: invalid argument")
	// ErrPanic: Go code running on the MLX thread panicked (a bug).
	ErrPanic = errors.New("bridge: panic on the MLX thread")
)

// Error is a failed mlx-c call: the C function, its non-zero return code
// and the message MLX passed to the error handler (including mlx-c's
// " at file:line" suffix). Code is 0 for functions that signal failure by
// returning an empty handle.
type Error struct {
	Op   string // C function name, e.g. "mlx_quantize"
	Code int    // return code (0 for handle-returning functions)
	Msg  string // MLX's message; empty if the handler was not called
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = "no message"
	}
	if e.Code != 0 {
		return fmt.Sprintf("bridge: %s failed (code %d): %s", e.Op, e.Code, msg)
	}
	return fmt.Sprintf("bridge: %s failed: %s", e.Op, msg)
}
