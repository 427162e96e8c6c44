package main

import (
	"fmt"

	"github.com/mlxconv/mlxconv/mlx"
)

// backendInfo describes the backend a command runs on, for the run summary.
type backendInfo struct {
	name, device string
	rounding     mlx.Rounding
	note         string
}

func (b backendInfo) String() string {
	s := fmt.Sprintf("%s (%s, %s rounding)", b.name, b.device, b.rounding)
	if b.note != "" {
		s += "; " + b.note
	}
	return s
}

// openBackend selects the compute backend for --backend kind.
func openBackend(kind string, workers int) (mlx.Backend, backendInfo, error) {
	switch kind {
	case "auto", "native":
		b := mlx.NewNative(workers, mlx.RoundingCPU)
		return b, backendInfo{name: b.Name(), device: b.Device(), rounding: b.Rounding()}, nil
	case "mlx":
		return nil, backendInfo{}, fmt.Errorf("%w: --backend mlx: the MLX bridge is not available in this build", errUsage)
	}
	return nil, backendInfo{}, fmt.Errorf("%w: --backend %q (want auto, mlx or native)", errUsage, kind)
}
