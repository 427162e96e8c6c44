package mlxbackend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/bridge"
	"github.com/mlxconv/mlxconv/mlx"
)

// Array is an array in MLX's memory, owned by an MLX backend (see
// OpenMLX). Operations are lazy: their results are computed by Eval, or by
// Bytes, which evaluates first. Close frees the array; MLX.Close frees the
// arrays still open. Arrays may be used from any goroutine (MLX calls are
// serialized on the backend's thread), but Close must not race with other
// uses of the same Array.
type Array struct {
	b     *MLX
	a     *bridge.Array
	dtype mlx.DType
}

// bridgeDType maps a DType to MLX's element type. The fp8 storage types
// have no MLX dtype.
func bridgeDType(d mlx.DType) (bridge.DType, error) {
	switch d {
	case mlx.Bool:
		return bridge.Bool, nil
	case mlx.U8:
		return bridge.Uint8, nil
	case mlx.U16:
		return bridge.Uint16, nil
	case mlx.U32:
		return bridge.Uint32, nil
	case mlx.U64:
		return bridge.Uint64, nil
	case mlx.I8:
		return bridge.Int8, nil
	case mlx.I16:
		return bridge.Int16, nil
	case mlx.I32:
		return bridge.Int32, nil
	case mlx.I64:
		return bridge.Int64, nil
	case mlx.F16:
		return bridge.Float16, nil
	case mlx.BF16:
		return bridge.BFloat16, nil
	case mlx.F32:
		return bridge.Float32, nil
	case mlx.F64:
		return bridge.Float64, nil
	case mlx.C64:
		return bridge.Complex64, nil
	}
	return 0, fmt.Errorf("%w: %s has no MLX array type", mlx.ErrDType, d)
}

// fromBridgeDType is the inverse of bridgeDType.
func fromBridgeDType(d bridge.DType) (mlx.DType, error) {
	for m := mlx.Bool; m.Valid(); m++ {
		if b, err := bridgeDType(m); err == nil && b == d {
			return m, nil
		}
	}
	return mlx.Invalid, fmt.Errorf("%w: MLX dtype %v", mlx.ErrDType, d)
}

func (b *MLX) wrap(a *bridge.Array) (*Array, error) {
	dt, err := fromBridgeDType(a.DType())
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return &Array{b: b, a: a, dtype: dt}, nil
}

// FromBytes copies data (little-endian elements of dtype dt, row-major,
// the given shape) into a new MLX array.
func (b *MLX) FromBytes(data []byte, shape []int, dt mlx.DType) (*Array, error) {
	bd, err := bridgeDType(dt)
	if err != nil {
		return nil, err
	}
	a, err := b.lib.FromBytes(data, shape, bd)
	if err != nil {
		return nil, fmt.Errorf("mlx: array %v %s: %w", shape, dt, err)
	}
	return b.wrap(a)
}

// DType returns the element type.
func (a *Array) DType() mlx.DType { return a.dtype }

// Shape returns a copy of the dimensions.
func (a *Array) Shape() []int { return a.a.Shape() }

// AsType returns a converted to dt, as mx.astype does on the backend's
// device.
func (a *Array) AsType(dt mlx.DType) (*Array, error) {
	bd, err := bridgeDType(dt)
	if err != nil {
		return nil, err
	}
	r, err := a.a.AsType(bd)
	if err != nil {
		return nil, fmt.Errorf("mlx: astype %s to %s: %w", a.dtype, dt, err)
	}
	return a.b.wrap(r)
}

// Eval computes the array.
func (a *Array) Eval() error { return a.a.Eval() }

// Bytes evaluates the array and returns a copy of its elements, row-major
// and little-endian.
func (a *Array) Bytes() ([]byte, error) { return a.a.Bytes() }

// Close frees the array. It is idempotent.
func (a *Array) Close() error {
	if a == nil {
		return nil
	}
	return a.a.Close()
}

// QuantizedArray is the result of Array.Quantize: the packed weight
// (uint32), the scales and, for Affine, the biases, with the parameters
// they were made with.
type QuantizedArray struct {
	Weight, Scales, Biases *Array // Biases is nil unless Params.Mode is Affine
	Params                 mlx.QuantParams
}

// globalScale makes the 0-d float32 array of p.GlobalScale, or nil.
func (b *MLX) globalScale(p mlx.QuantParams) (*bridge.Array, error) {
	if p.GlobalScale == nil {
		return nil, nil
	}
	buf := binary.LittleEndian.AppendUint32(nil, math.Float32bits(*p.GlobalScale))
	return b.lib.FromBytes(buf, nil, bridge.Float32)
}

func quantizeParams(p mlx.QuantParams, g *bridge.Array) bridge.QuantizeParams {
	return bridge.QuantizeParams{Mode: p.Mode.String(), GroupSize: p.GroupSize, Bits: p.Bits, GlobalScale: g}
}

// Quantize quantizes a as mx.quantize does on the backend's device, whose
// rounding rules apply whatever p.Rounding says (see MLX.Rounding).
func (a *Array) Quantize(p mlx.QuantParams) (*QuantizedArray, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b := a.b
	g, err := b.globalScale(p)
	if err != nil {
		return nil, fmt.Errorf("mlx: global scale: %w", err)
	}
	defer g.Close()
	outs, err := b.lib.Quantize(a.a, quantizeParams(p, g))
	if err != nil {
		return nil, fmt.Errorf("mlx: quantize %s %d-bit gs %d: %w", p.Mode, p.Bits, p.GroupSize, err)
	}
	q := &QuantizedArray{Params: p}
	var errs []error
	wrapped := make([]*Array, len(outs))
	for i, o := range outs {
		wrapped[i], err = b.wrap(o)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		for _, w := range wrapped {
			_ = w.Close()
		}
		return nil, err
	}
	want := 2
	if p.Mode.HasBias() {
		want = 3
	}
	if len(wrapped) != want {
		for _, w := range wrapped {
			_ = w.Close()
		}
		return nil, fmt.Errorf("mlx: quantize %s returned %d arrays, want %d", p.Mode, len(wrapped), want)
	}
	q.Weight, q.Scales = wrapped[0], wrapped[1]
	if want == 3 {
		q.Biases = wrapped[2]
	}
	return q, nil
}

// Dequantize reverses the quantization as mx.dequantize does, producing
// dtype out (mlx.Invalid: MLX's default, see mlx.DequantizedDType).
func (q *QuantizedArray) Dequantize(out mlx.DType) (*Array, error) {
	b := q.Weight.b
	od := bridge.DTypeUnset
	if out != mlx.Invalid {
		var err error
		if od, err = bridgeDType(out); err != nil {
			return nil, err
		}
	}
	g, err := b.globalScale(q.Params)
	if err != nil {
		return nil, fmt.Errorf("mlx: global scale: %w", err)
	}
	defer g.Close()
	var biases *bridge.Array
	if q.Biases != nil {
		biases = q.Biases.a
	}
	r, err := b.lib.Dequantize(q.Weight.a, q.Scales.a, biases, quantizeParams(q.Params, g), od)
	if err != nil {
		return nil, fmt.Errorf("mlx: dequantize %s %d-bit gs %d: %w", q.Params.Mode, q.Params.Bits, q.Params.GroupSize, err)
	}
	return b.wrap(r)
}

// Eval computes the weight, scales and biases together.
func (q *QuantizedArray) Eval() error {
	arrs := []*bridge.Array{q.Weight.a, q.Scales.a}
	if q.Biases != nil {
		arrs = append(arrs, q.Biases.a)
	}
	return q.Weight.b.lib.Eval(arrs...)
}

// Close frees the three arrays.
func (q *QuantizedArray) Close() error {
	return errors.Join(q.Weight.Close(), q.Scales.Close(), q.Biases.Close())
}
