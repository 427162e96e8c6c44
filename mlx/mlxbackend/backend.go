package mlxbackend

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/mlxconv/mlxconv/bridge"
	"github.com/mlxconv/mlxconv/mlx"
)

// MLXOptions configure OpenMLX.
type MLXOptions struct {
	// Library is the libmlxc file; "" searches for it (bridge.Find: the
	// MLXC_LIBRARY override, then the platform's standard folders).
	Library string
	// Device is "auto" (or ""), "cpu" or "gpu". Auto is Metal on macOS when
	// available, the CPU elsewhere.
	Device string
	// CacheLimit bounds MLX's buffer cache in bytes (0: bridge's default,
	// negative: MLX's own).
	CacheLimit int64
	// Strict makes a searched candidate that fails bridge.CheckLibrary
	// (truncated, wrong architecture, not mlx-c, ...) an error; otherwise
	// it is skipped and listed by MLX.Skipped.
	Strict bool
}

// MLX is the "mlx" mlx.Backend: MLX through libmlxc (package bridge). All MLX
// calls run on one OS thread, so the backend is safe for concurrent use but
// does not run calls in parallel. Its rounding rules follow the device:
// mlx.RoundingMetal on the GPU, mlx.RoundingCPU on the CPU;
// mlx.QuantParams.Rounding is ignored, as for mlx.Native, and so is
// mlx.QuantParams.Chunk: MLX quantizes each call's rows as a tensor of their
// own (on arm64 the MX scale bytes of non-finite groups near a chunk's end
// may then differ from the whole tensor's).
type MLX struct {
	lib     *bridge.Lib
	skipped []string
}

var _ mlx.Backend = (*MLX)(nil)

// ParseDevice maps "auto" (or ""), "cpu" and "gpu" to a bridge device.
func parseDevice(s string) (bridge.Device, error) {
	switch s {
	case "", "auto":
		return bridge.DeviceAuto, nil
	case "cpu":
		return bridge.DeviceCPU, nil
	case "gpu":
		return bridge.DeviceGPU, nil
	}
	return 0, fmt.Errorf("mlx: unknown device %q (want auto, cpu or gpu)", s)
}

// OpenMLX loads libmlxc and returns the MLX backend, after a smoke test:
// a searched candidate that is no usable libmlxc is skipped (see
// MLXOptions.Strict);
// a small affine quantize and dequantize must round-trip. Errors wrap the
// bridge package's sentinels (bridge.ErrNotFound, bridge.ErrSymbol, ...).
func OpenMLX(opts MLXOptions) (*MLX, error) {
	dev, err := parseDevice(opts.Device)
	if err != nil {
		return nil, err
	}
	if err := bridge.Available(); err != nil {
		return nil, err
	}
	path := opts.Library
	var skipped []error
	if path == "" {
		if path, skipped, err = bridge.Search(bridge.SystemEnv()); err != nil {
			return nil, err
		}
		if opts.Strict && len(skipped) > 0 {
			return nil, skipped[0]
		}
	}
	lib, err := bridge.Open(path, bridge.Options{Device: dev, CacheLimit: opts.CacheLimit})
	if err != nil {
		return nil, err
	}
	m := &MLX{lib: lib}
	for _, e := range skipped {
		m.skipped = append(m.skipped, oneLine(e.Error()))
	}
	if err := m.smoke(); err != nil {
		return nil, errors.Join(fmt.Errorf("%w: %s: %w", bridge.ErrSmoke, path, err), lib.Close())
	}
	return m, nil
}

// smoke quantizes a 2x64 float32 ramp to 8 bits and checks that the
// dequantized values are within one quantization step: a wrong ABI or a
// broken library fails here rather than in the middle of a conversion.
func (m *MLX) smoke() error {
	const rows, k = 2, 64
	w := make([]byte, 0, 4*rows*k)
	for i := range rows * k {
		w = appendF32(w, float32(float32(i)/16)-4) // float32(): no FMA on arm64
	}
	p := mlx.QuantParams{Mode: mlx.Affine, Bits: 8, GroupSize: 64}
	q, err := m.Quantize(w, mlx.F32, []int{rows, k}, p)
	if err != nil {
		return err
	}
	d, err := m.Dequantize(q, p, mlx.F32)
	if err != nil {
		return err
	}
	for i := range rows * k {
		want, got := f32At(w, i), f32At(d, i)
		if !(math.Abs(float64(want-got)) <= 0.05) { // step = 8/255
			return fmt.Errorf("element %d round-trips to %v, want %v", i, got, want)
		}
	}
	return nil
}

// Name returns "mlx".
func (m *MLX) Name() string { return "mlx" }

// Device returns "cpu" or "gpu".
func (m *MLX) Device() string { return m.lib.Device().String() }

// GPU returns "metal" or "cuda" on a GPU device, "" on the CPU.
func (m *MLX) GPU() string { return m.lib.GPU() }

// Rounding returns mlx.RoundingMetal on the GPU and mlx.RoundingCPU on the
// CPU.
func (m *MLX) Rounding() mlx.Rounding {
	if m.lib.Device() == bridge.DeviceGPU {
		return mlx.RoundingMetal
	}
	return mlx.RoundingCPU
}

// Skipped returns, one line each, why the library search passed over
// the candidates before the loaded one (empty when none was skipped).
func (m *MLX) Skipped() []string { return m.skipped }

// Library returns the path of the loaded libmlxc.
func (m *MLX) Library() string { return m.lib.Path() }

// ABI returns the mlx-c ABI generation ("0.4", "0.5" or "0.6+").
func (m *MLX) ABI() string { return m.lib.ABI().String() }

// Version returns MLX's version as the library reports it.
func (m *MLX) Version() string { return m.lib.Version() }

// Close frees every array of the backend and stops its MLX thread.
func (m *MLX) Close() error { return m.lib.Close() }

// Cast converts src from dtype from to dtype to with mx.astype. Like
// mlx.Native, it accepts F16, BF16, F32 and F64; errors wrap mlx.ErrCast.
func (m *MLX) Cast(src []byte, from, to mlx.DType) ([]byte, error) {
	if err := mlx.CheckCast(len(src), from, to); err != nil {
		return nil, err
	}
	n := len(src) / from.Size()
	a, err := m.FromBytes(src, []int{n}, from)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if from == to {
		return a.Bytes()
	}
	c, err := a.AsType(to)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Bytes()
}

// Quantize quantizes w with mx.quantize on the backend's device. The
// validation and the output layout are those of the package-level
// mlx.Quantize; errors wrap mlx.ErrQuant or come from MLX.
func (m *MLX) Quantize(w []byte, dt mlx.DType, shape []int, p mlx.QuantParams) (mlx.Quantized, error) {
	wqShape, sShape, err := mlx.QuantizedShapes(shape, p)
	if err != nil {
		return mlx.Quantized{}, err
	}
	if !mlx.Quantizable(dt) {
		return mlx.Quantized{}, fmt.Errorf("%w: cannot quantize dtype %s (want float32, float16 or bfloat16)", mlx.ErrQuant, dt)
	}
	if n, _ := mlx.NumElements(shape); len(w) != n*dt.Size() {
		return mlx.Quantized{}, fmt.Errorf("%w: weight %v %s: have %d bytes, want %d", mlx.ErrQuant, shape, dt, len(w), n*dt.Size())
	}
	a, err := m.FromBytes(w, shape, dt)
	if err != nil {
		return mlx.Quantized{}, err
	}
	defer a.Close()
	qa, err := a.Quantize(p)
	if err != nil {
		return mlx.Quantized{}, err
	}
	defer qa.Close()
	if err := qa.Eval(); err != nil {
		return mlx.Quantized{}, fmt.Errorf("mlx: quantize: %w", err)
	}
	sd := p.Mode.ScaleDType(dt)
	switch {
	case qa.Weight.DType() != mlx.U32 || !slices.Equal(qa.Weight.Shape(), wqShape):
		return mlx.Quantized{}, fmt.Errorf("mlx: quantize: MLX returned weights %v %s, want %v uint32", qa.Weight.Shape(), qa.Weight.DType(), wqShape)
	case qa.Scales.DType() != sd || !slices.Equal(qa.Scales.Shape(), sShape):
		return mlx.Quantized{}, fmt.Errorf("mlx: quantize: MLX returned scales %v %s, want %v %s", qa.Scales.Shape(), qa.Scales.DType(), sShape, sd)
	}
	q := mlx.Quantized{WeightShape: wqShape, ScaleShape: sShape, ScaleDType: sd}
	if q.Weight, err = qa.Weight.Bytes(); err != nil {
		return mlx.Quantized{}, err
	}
	if q.Scales, err = qa.Scales.Bytes(); err != nil {
		return mlx.Quantized{}, err
	}
	if qa.Biases != nil {
		if q.Biases, err = qa.Biases.Bytes(); err != nil {
			return mlx.Quantized{}, err
		}
	}
	return q, nil
}

// Dequantize reverses Quantize with mx.dequantize on the backend's device.
// The result has dtype mlx.DequantizedDType(p, q.ScaleDType, out); errors
// wrap mlx.ErrQuant or come from MLX.
func (m *MLX) Dequantize(q mlx.Quantized, p mlx.QuantParams, out mlx.DType) ([]byte, error) {
	if err := mlx.CheckQuantized(q, p); err != nil {
		return nil, err
	}
	od := mlx.DequantizedDType(p, q.ScaleDType, out)
	if !mlx.Quantizable(od) {
		return nil, fmt.Errorf("%w: cannot dequantize to dtype %s (want float32, float16 or bfloat16)", mlx.ErrQuant, od)
	}
	qa := &QuantizedArray{Params: p}
	defer qa.Close()
	var err error
	if qa.Weight, err = m.FromBytes(q.Weight, q.WeightShape, mlx.U32); err != nil {
		return nil, err
	}
	if qa.Scales, err = m.FromBytes(q.Scales, q.ScaleShape, q.ScaleDType); err != nil {
		return nil, err
	}
	if q.Biases != nil {
		if qa.Biases, err = m.FromBytes(q.Biases, q.ScaleShape, q.ScaleDType); err != nil {
			return nil, err
		}
	}
	r, err := qa.Dequantize(out)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.DType() != od {
		return nil, fmt.Errorf("mlx: dequantize: MLX returned %s, want %s", r.DType(), od)
	}
	return r.Bytes()
}

func appendF32(b []byte, f float32) []byte {
	u := math.Float32bits(f)
	return append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
}

func f32At(b []byte, i int) float32 {
	return math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
}
