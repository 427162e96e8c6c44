package mlxbackend

import (
	"fmt"
	"strings"

	"github.com/mlxconv/mlxconv/mlx"
)

// Select opens the backend of the given kind (mlx.BackendAuto, mlx.BackendMLX
// or mlx.BackendNative):
//   - "native": the pure-Go kernels on workers goroutines (<= 0: GOMAXPROCS)
//     with RoundingCPU;
//   - "mlx": MLX through libmlxc (found as bridge.Search does; the device
//     is Metal on macOS when available, else the CPU); failing to load it
//     or its smoke test is an error, and so is a searched candidate that
//     is no usable libmlxc (truncated, wrong architecture, not mlx-c);
//   - "auto" (or ""): "mlx" when it opens, else "native" with
//     BackendInfo.Fallback saying why in one line; unusable candidates are
//     skipped, listed in BackendInfo.Skipped.
//
// workers applies to the native backend only; MLX schedules its own
// threads. Close the returned Backend when done.
func Select(kind mlx.BackendKind, workers int) (mlx.Backend, mlx.BackendInfo, error) {
	switch kind {
	case mlx.BackendNative:
		return mlx.OpenNative(workers, "")
	case mlx.BackendMLX, mlx.BackendAuto, "":
	default:
		return nil, mlx.BackendInfo{}, fmt.Errorf("%w %q (want auto, mlx or native)", mlx.ErrBackendKind, string(kind))
	}
	m, err := OpenMLX(MLXOptions{Strict: kind == mlx.BackendMLX})
	if err == nil {
		return m, mlx.BackendInfo{
			Backend:    m.Name(),
			Library:    m.Library(),
			ABI:        m.ABI(),
			MLXVersion: m.Version(),
			Device:     m.Device(),
			Rounding:   m.Rounding(),
			Skipped:    m.Skipped(),
		}, nil
	}
	if kind == mlx.BackendMLX {
		return nil, mlx.BackendInfo{}, fmt.Errorf("mlx: backend mlx: %w", err)
	}
	b, info, nerr := mlx.OpenNative(workers, oneLine(err.Error()))
	info.FallbackErr = err
	return b, info, nerr
}

// oneLine joins the non-empty lines of a (possibly joined) error message
// with "; ".
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
