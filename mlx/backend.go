package mlx

// Backend performs cast, quantize and dequantize on host buffers. Buffers
// hold little-endian elements in row-major order; shapes are element counts
// per dimension. Implementations: the pure-Go Native backend (this package)
// and the MLX backend over libmlxc (mlxbackend.OpenMLX, package
// mlx/mlxbackend).
//
// A Backend is safe for concurrent use unless its documentation says
// otherwise. Close releases native resources; the Native backend's Close is a
// no-op.
type Backend interface {
	// Name is "native" or "mlx".
	Name() string
	// Device describes where the work runs ("cpu", "gpu").
	Device() string
	// Rounding tells which MLX arithmetic the backend reproduces.
	Rounding() Rounding
	// Cast converts src (dtype from) to dtype to, as MLX's astype does.
	Cast(src []byte, from, to DType) ([]byte, error)
	// Quantize quantizes w (dtype dt, shape, last dim divisible by the group
	// size) as mx.quantize does. biases is nil for modes without a bias.
	Quantize(w []byte, dt DType, shape []int, p QuantParams) (q Quantized, err error)
	// Dequantize reverses Quantize as mx.dequantize does, producing dtype out.
	Dequantize(q Quantized, p QuantParams, out DType) ([]byte, error)
	// Close releases the backend's resources.
	Close() error
}

// Quantized is the result of a quantization: the packed weight (uint32
// words), the per-group scales and (affine only) biases, with their shapes.
type Quantized struct {
	Weight      []byte // uint32 little-endian words
	WeightShape []int  // [..., K*bits/32]
	Scales      []byte
	Biases      []byte // nil unless the mode has a bias
	ScaleShape  []int  // [..., K/groupSize]; biases have the same shape
	ScaleDType  DType  // weight dtype for affine, U8 for fp modes
}
