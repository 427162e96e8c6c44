package model

import (
	"fmt"
	"slices"
)

// View is a sanitize's rewrite of one tensor into part of itself, the
// mx.split / mx.swapaxes / mx.flatten steps of mlx-lm's sanitize methods:
// the source is read as Shape (nil: its own shape), cut to [Start, Stop)
// along Axis (every Step-th index from Start when Step > 1: v[..., ::2]),
// axes 1 and 2 swapped when Swap12 (3-D only), then read as Out (nil: as
// it is).
type View struct {
	Shape       []int
	Axis        int
	Start, Stop int
	Step        int
	Swap12      bool
	Out         []int
}

// step is the stride along Axis (1 unless Step > 1).
func (v *View) step() int { return max(v.Step, 1) }

// count is the number of indices the cut keeps along Axis.
func (v *View) count() int { return (v.Stop - v.Start + v.step() - 1) / v.step() }

// SplitViews returns the n equal views of a tensor of shape along axis
// (mx.split(v, n, axis)).
func SplitViews(shape []int, axis, n int) ([]View, error) {
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) || n <= 0 || shape[axis]%n != 0 {
		return nil, fmt.Errorf("%w: cannot split %v into %d along axis %d", ErrWeights, shape, n, axis)
	}
	step := shape[axis] / n
	out := make([]View, n)
	for i := range out {
		out[i] = View{Axis: axis, Start: i * step, Stop: (i + 1) * step}
	}
	return out, nil
}

func elements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// OutShape returns the shape of the view of a tensor of shape src.
func (v *View) OutShape(src []int) ([]int, error) {
	s := src
	if v.Shape != nil {
		if elements(v.Shape) != elements(src) {
			return nil, fmt.Errorf("%w: cannot read %v as %v", ErrWeights, src, v.Shape)
		}
		s = v.Shape
	}
	if v.Axis < 0 || v.Axis >= len(s) || v.Start < 0 || v.Stop > s[v.Axis] || v.Start >= v.Stop {
		return nil, fmt.Errorf("%w: cannot cut [%d, %d) of axis %d of %v", ErrWeights, v.Start, v.Stop, v.Axis, s)
	}
	out := slices.Clone(s)
	out[v.Axis] = v.count()
	if v.Swap12 {
		if len(out) != 3 {
			return nil, fmt.Errorf("%w: cannot swap axes 1 and 2 of %v", ErrWeights, out)
		}
		out[1], out[2] = out[2], out[1]
	}
	if v.Out != nil {
		if elements(v.Out) != elements(out) {
			return nil, fmt.Errorf("%w: cannot read %v as %v", ErrWeights, out, v.Out)
		}
		out = slices.Clone(v.Out)
	}
	return out, nil
}

// Apply computes the view's bytes from the row-major bytes b of a tensor
// of shape src with elements of size bytes.
func (v *View) Apply(b []byte, src []int, size int) ([]byte, error) {
	if _, err := v.OutShape(src); err != nil {
		return nil, err
	}
	s := src
	if v.Shape != nil {
		s = v.Shape
	}
	if len(b) != elements(s)*size {
		return nil, fmt.Errorf("%w: %d bytes for %v", ErrWeights, len(b), s)
	}
	outer, inner := elements(s[:v.Axis]), elements(s[v.Axis+1:])*size
	dim := s[v.Axis]
	out := make([]byte, 0, outer*v.count()*inner)
	for o := 0; o < outer; o++ {
		base := o * dim * inner
		if v.step() == 1 {
			out = append(out, b[base+v.Start*inner:base+v.Stop*inner]...)
			continue
		}
		for i := v.Start; i < v.Stop; i += v.step() {
			out = append(out, b[base+i*inner:base+(i+1)*inner]...)
		}
	}
	if !v.Swap12 {
		return out, nil
	}
	cut := slices.Clone(s)
	cut[v.Axis] = v.count()
	rows, cols := cut[1], cut[2]
	swapped := make([]byte, len(out))
	mat := rows * cols * size
	for e := 0; e < cut[0]; e++ {
		m, t := out[e*mat:(e+1)*mat], swapped[e*mat:(e+1)*mat]
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				copy(t[(c*rows+r)*size:(c*rows+r+1)*size], m[(r*cols+c)*size:(r*cols+c+1)*size])
			}
		}
	}
	return swapped, nil
}
