package main

import (
	"errors"
	"fmt"

	"github.com/mlxconv/mlxconv/bridge"
	"github.com/mlxconv/mlxconv/mlx"
)

// backendNote is the backend part of a run's summary line, short enough
// for every run: "backend mlx (MLX 0.32.4 on gpu)", "backend native", or,
// when "auto" fell back, why in a few words — "backend native (no
// libmlxc; see mlxconv version)" when there is simply none. A libmlxc that
// exists but cannot be used keeps its one-line reason (it needs fixing).
// The search details are `mlxconv version`'s.
func backendNote(i mlx.BackendInfo) string {
	const see = "; see mlxconv version)"
	switch {
	case i.Backend == "mlx":
		return fmt.Sprintf("backend mlx (MLX %s on %s)", i.MLXVersion, i.Device)
	case i.Fallback == "":
		return "backend " + i.Backend
	case errors.Is(i.FallbackErr, bridge.ErrUnsupported):
		return "backend " + i.Backend + " (MLX not available in this build" + see
	case libmlxcAbsent(i.FallbackErr):
		return "backend " + i.Backend + " (no libmlxc" + see
	}
	return "backend " + i.Backend + " (MLX unavailable: " + i.Fallback + see
}

// libmlxcAbsent reports whether err says only that no libmlxc was found:
// no candidate existed, as opposed to one that failed to load.
func libmlxcAbsent(err error) bool {
	if !errors.Is(err, bridge.ErrNotFound) {
		return false
	}
	for _, broken := range []error{bridge.ErrBadLibrary, bridge.ErrNotMLXC, bridge.ErrLoad, bridge.ErrSymbol, bridge.ErrABI, bridge.ErrSmoke} {
		if errors.Is(err, broken) {
			return false
		}
	}
	return true
}
