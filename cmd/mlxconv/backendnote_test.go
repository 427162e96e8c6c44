package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mlxconv/mlxconv/bridge"
	"github.com/mlxconv/mlxconv/mlx"
)

func TestBackendNote(t *testing.T) {
	notFound := fmt.Errorf("%w (tried /usr/local/lib/libmlxc.so, /usr/lib/x86_64-linux-gnu/libmlxc.so, /usr/lib64/libmlxc.so, /usr/lib/libmlxc.so; set MLXC_LIBRARY)", bridge.ErrNotFound)
	skipped := fmt.Errorf("%w: skipped %w (tried /a; set MLXC_LIBRARY)", bridge.ErrNotFound, fmt.Errorf("%w: \"/a\": truncated", bridge.ErrBadLibrary))
	native := func(err error) mlx.BackendInfo {
		i := mlx.BackendInfo{Backend: "native", Device: "cpu", Rounding: mlx.RoundingCPU}
		if err != nil {
			i.Fallback, i.FallbackErr = err.Error(), err
		}
		return i
	}
	for _, tc := range []struct {
		name string
		info mlx.BackendInfo
		want string
	}{
		{"mlx", mlx.BackendInfo{Backend: "mlx", MLXVersion: "0.32.4", ABI: "0.6+", Library: "/opt/homebrew/lib/libmlxc.dylib", Device: "gpu",
			Skipped: []string{"x"}}, "backend mlx (MLX 0.32.4 on gpu)"},
		{"native asked for", native(nil), "backend native"},
		{"no libmlxc", native(notFound), "backend native (no libmlxc; see mlxconv version)"},
		{"unsupported build", native(fmt.Errorf("mlxc: %w", bridge.ErrUnsupported)), "backend native (MLX not available in this build; see mlxconv version)"},
		{"a broken candidate", native(skipped), "backend native (MLX unavailable: " + skipped.Error() + "; see mlxconv version)"},
		{"smoke test failed", native(fmt.Errorf("%w: boom", bridge.ErrSmoke)), "backend native (MLX unavailable: bridge: libmlxc failed its smoke test: boom; see mlxconv version)"},
		{"unknown error", native(errors.New("odd")), "backend native (MLX unavailable: odd; see mlxconv version)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, backendNote(tc.info))
		})
	}
}
