package mlx

// Validation shared with Backend implementations outside this package
// (package mlxbackend), so that every backend rejects the same inputs with
// the same errors as Native.

// CheckCast validates a cast of n bytes of dtype from to dtype to as Cast
// does: both dtypes must be F16, BF16, F32 or F64 and n a whole number of
// elements. Errors wrap ErrCast.
func CheckCast(n int, from, to DType) error { return checkCast(n, from, to) }

// Quantizable reports whether dt can be quantized (or be the result of a
// dequantization): F32, F16 or BF16, as MLX's CPU accepts.
func Quantizable(dt DType) bool { return quantizable(dt) }

// NumElements multiplies the dimensions of shape, rejecting negative
// dimensions and products that overflow; errors wrap ErrQuant.
func NumElements(shape []int) (int, error) { return numElements(shape) }

// CheckQuantized validates q against p as Dequantize does: the shapes,
// buffer sizes and scale dtype must match the parameters. Errors wrap
// ErrQuant.
func CheckQuantized(q Quantized, p QuantParams) error {
	_, _, err := deqLayout(q, p)
	return err
}
