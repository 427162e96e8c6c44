package source

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
)

// valueOp applies a sanitize value transform (OpValue) to b, the bytes of
// a tensor of the given shape and dtype, as mlx-lm's sanitize computes it
// in that dtype.
func valueOp(op model.ValueOp, sc *model.Scaling, b []byte, shape []int, dt mlx.DType) ([]byte, error) {
	if int64(len(b)) != NumElements(shape)*int64(dt.Size()) {
		return nil, fmt.Errorf("%d bytes for %s%v", len(b), dt, shape)
	}
	switch op {
	case model.ValueNone, model.ValueSqueeze:
		return b, nil
	case model.ValueSwapLast2:
		if len(shape) != 3 {
			return nil, fmt.Errorf("%s of a %d-D tensor", op, len(shape))
		}
		out := make([]byte, 0, len(b))
		mat := shape[1] * shape[2] * dt.Size()
		for i := 0; i < shape[0]; i++ {
			out = append(out, transpose2D(b[i*mat:(i+1)*mat], shape[1], shape[2], dt.Size())...)
		}
		return out, nil
	case model.ValueAddOne:
		return addOne(b, dt)
	case model.ValueScale:
		return scaleValues(b, shape, dt, sc)
	}
	return nil, fmt.Errorf("unknown value op %s", op)
}

// addOne adds 1 to every element: float32 arithmetic rounded to dt (what
// MLX does for float16 and bfloat16), float64 in float64.
func addOne(b []byte, dt mlx.DType) ([]byte, error) {
	if !dt.IsFloat() {
		return nil, fmt.Errorf("%s values are not float", dt)
	}
	out := make([]byte, len(b))
	n := len(b) / dt.Size()
	for i := 0; i < n; i++ {
		if dt == mlx.F64 {
			binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))+1))
			continue
		}
		putFloat(out, i, dt, floatAt(b, i, dt)+1)
	}
	return out, nil
}

// scaleValues multiplies b by sc (see model.Scaling): factors rounded to
// dt, products in float32 rounded to dt, as MLX multiplies a float16,
// bfloat16 or float32 array by a weakly typed Python scalar.
func scaleValues(b []byte, shape []int, dt mlx.DType, sc *model.Scaling) ([]byte, error) {
	if sc == nil || !dt.IsFloat() || dt == mlx.F64 {
		return nil, fmt.Errorf("cannot scale %s values", dt)
	}
	if sc.Widen {
		return widenScale(b, shape, dt, sc)
	}
	rnd := func(v float32) float32 { return roundTo(v, dt) }
	by := rnd(float32(sc.By))
	rows, per, err := scaleRows(shape, sc)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(b))
	for r := 0; r < rows; r++ {
		f := by
		if sc.Rows != nil {
			f = rnd(by * rnd(float32(sc.Rows[r])))
		}
		for i := r * per; i < (r+1)*per; i++ {
			putFloat(out, i, dt, floatAt(b, i, dt)*f)
		}
	}
	return out, nil
}

// widenScale is scaleValues for a Widen scaling: float32 results of the
// values widened to float32 times each step in turn, then the row factor
// (a float16 source stays float16 in the converter: each product rounded
// to float16).
func widenScale(b []byte, shape []int, dt mlx.DType, sc *model.Scaling) ([]byte, error) {
	rows, per, err := scaleRows(shape, sc)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4*int(NumElements(shape)))
	for r := 0; r < rows; r++ {
		for i := r * per; i < (r+1)*per; i++ {
			v := floatAt(b, i, dt)
			for _, f := range sc.Steps {
				v = keep16(v*float32(f), dt)
			}
			if sc.Rows != nil {
				v = keep16(v*float32(sc.Rows[r]), dt)
			}
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	}
	return out, nil
}

// keep16 rounds v to float16 when dt is float16 (torch's float16
// arithmetic), else returns it.
func keep16(v float32, dt mlx.DType) float32 {
	if dt != mlx.F16 {
		return v
	}
	return roundTo(v, mlx.F16)
}

// roundTo rounds v to the float dtype dt and back.
func roundTo(v float32, dt mlx.DType) float32 {
	var t [8]byte
	putFloat(t[:], 0, dt, v)
	return floatAt(t[:], 0, dt)
}

// scaleRows splits shape into the rows a Scaling's per-row factors apply
// to (one row without them) and the elements per row.
func scaleRows(shape []int, sc *model.Scaling) (rows, per int, err error) {
	rows = 1
	if sc.Rows != nil {
		if len(shape) == 0 || shape[0] != len(sc.Rows) {
			return 0, 0, fmt.Errorf("%d row factors for shape %v", len(sc.Rows), shape)
		}
		rows = shape[0]
	}
	return rows, int(NumElements(shape)) / max(rows, 1), nil
}
