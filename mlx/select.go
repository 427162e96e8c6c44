package mlx

import (
	"fmt"
	"strings"
)

// BackendInfo describes the backend OpenBackend chose, for run summaries
// and `mlxconv version`.
type BackendInfo struct {
	Backend    string   // "mlx" or "native"
	Library    string   // libmlxc path (mlx only)
	ABI        string   // mlx-c ABI generation, "0.4", "0.5" or "0.6+" (mlx only)
	MLXVersion string   // MLX version reported by the library (mlx only)
	Device     string   // "cpu" or "gpu"
	Rounding   Rounding // the rounding rules the backend reproduces
	// Fallback is set when "auto" could not use MLX: one line saying why.
	Fallback string
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

// Backend kinds accepted by OpenBackend.
const (
	BackendAuto   = "auto"
	BackendMLX    = "mlx"
	BackendNative = "native"
)

// OpenBackend opens the backend of the given kind:
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
func OpenBackend(kind string, workers int) (Backend, BackendInfo, error) {
	switch kind {
	case BackendNative:
		return openNative(workers, "")
	case BackendMLX, BackendAuto, "":
	default:
		return nil, BackendInfo{}, fmt.Errorf("mlx: unknown backend %q (want auto, mlx or native)", kind)
	}
	m, err := OpenMLX(MLXOptions{Strict: kind == BackendMLX})
	if err == nil {
		return m, BackendInfo{
			Backend:    m.Name(),
			Library:    m.Library(),
			ABI:        m.ABI(),
			MLXVersion: m.Version(),
			Device:     m.Device(),
			Rounding:   m.Rounding(),
			Skipped:    m.Skipped(),
		}, nil
	}
	if kind == BackendMLX {
		return nil, BackendInfo{}, fmt.Errorf("mlx: backend mlx: %w", err)
	}
	return openNative(workers, oneLine(err.Error()))
}

func openNative(workers int, fallback string) (Backend, BackendInfo, error) {
	n := NewNative(workers, RoundingCPU)
	return n, BackendInfo{Backend: n.Name(), Device: n.Device(), Rounding: n.Rounding(), Fallback: fallback}, nil
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
