package mlx

import (
	"errors"
	"fmt"
	"strings"
)

// BackendInfo describes the backend OpenNative or mlxbackend.Select
// opened, for run summaries and `mlxconv version`.
type BackendInfo struct {
	Backend    string   // "mlx" or "native"
	Library    string   // libmlxc path (mlx only)
	ABI        string   // mlx-c ABI generation, "0.4", "0.5" or "0.6+" (mlx only)
	MLXVersion string   // MLX version reported by the library (mlx only)
	Device     string   // "cpu" or "gpu"
	Rounding   Rounding // the rounding rules the backend reproduces
	// Fallback is set when "auto" could not use MLX: one line saying why.
	Fallback string
	// FallbackErr is the error behind Fallback (nil otherwise), for
	// errors.Is against the bridge's sentinels.
	FallbackErr error `json:"-"`
	// Skipped lists, one line each, the libmlxc candidates the search
	// passed over before the loaded one (mlx only), and why.
	Skipped []string
}

// String is a one-line summary, e.g.
// "mlx (MLX 0.32.4, mlx-c 0.6+, /opt/homebrew/lib/libmlxc.dylib) on gpu, metal rounding"
// or "native on cpu, cpu rounding (MLX unavailable: ...)".
func (i BackendInfo) String() string {
	var b strings.Builder
	b.WriteString(i.Backend)
	if i.Backend == "mlx" {
		fmt.Fprintf(&b, " (MLX %s, mlx-c %s, %s)", i.MLXVersion, i.ABI, i.Library)
	}
	fmt.Fprintf(&b, " on %s, %s rounding", i.Device, i.Rounding)
	if i.Fallback != "" {
		fmt.Fprintf(&b, " (MLX unavailable: %s)", i.Fallback)
	}
	if len(i.Skipped) > 0 {
		fmt.Fprintf(&b, " (skipped: %s)", strings.Join(i.Skipped, "; "))
	}
	return b.String()
}

// BackendKind names a compute backend for mlxbackend.Select. The zero value
// means BackendAuto.
type BackendKind string

// Backend kinds accepted by mlxbackend.Select.
const (
	BackendAuto   BackendKind = "auto"   // MLX when it loads, else Native
	BackendMLX    BackendKind = "mlx"    // MLX, or an error
	BackendNative BackendKind = "native" // the pure-Go backend
)

// BackendKinds lists the backend kinds, in the order help text names them.
var BackendKinds = []BackendKind{BackendAuto, BackendMLX, BackendNative}

// ErrBackendKind is returned (wrapped) by ParseBackendKind for an unknown
// name.
var ErrBackendKind = errors.New("mlx: unknown backend")

// ParseBackendKind maps "auto", "mlx" or "native" to a BackendKind; other
// names are an error wrapping ErrBackendKind.
func ParseBackendKind(s string) (BackendKind, error) {
	for _, k := range BackendKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w %q (want auto, mlx or native)", ErrBackendKind, s)
}

// OpenNative opens the Native backend on workers goroutines (<= 0:
// GOMAXPROCS) with RoundingCPU, and describes it; fallback, when not empty,
// becomes BackendInfo.Fallback: one line saying why MLX was not used
// (mlxbackend.Select passes it for "auto"). It needs no native library;
// selecting between MLX and Native is mlxbackend.Select's job.
func OpenNative(workers int, fallback string) (Backend, BackendInfo, error) {
	n := NewNative(workers, RoundingCPU)
	return n, BackendInfo{Backend: n.Name(), Device: n.Device(), Rounding: n.Rounding(), Fallback: fallback}, nil
}
