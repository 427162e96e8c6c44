package convert

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlxconv/mlxconv/mlx"
)

// SourceOp says how a logical (sanitized) tensor is assembled from its
// source tensors.
type SourceOp uint8

const (
	// OpDirect is one source tensor as stored.
	OpDirect SourceOp = iota
	// OpStack stacks same-shaped sources along a new leading axis (MoE
	// experts): the bytes are the sources back to back.
	OpStack
	// OpAWQWeight repacks an AutoAWQ/GPTQ qweight [in, out/8] (int32) into
	// an MLX 4-bit weight [out, in/8] (uint32).
	OpAWQWeight
	// OpAWQScales transposes AWQ scales [groups, out] to [out, groups].
	OpAWQScales
	// OpAWQBiases computes MLX biases [out, groups] = -zeros*scales from the
	// AWQ scales (source 0) and qzeros (source 1, optional: zero point 8).
	OpAWQBiases
)

var sourceOpNames = [...]string{OpDirect: "direct", OpStack: "stack", OpAWQWeight: "awq-weight",
	OpAWQScales: "awq-scales", OpAWQBiases: "awq-biases"}

func (o SourceOp) String() string {
	if int(o) < len(sourceOpNames) {
		return sourceOpNames[o]
	}
	return fmt.Sprintf("SourceOp(%d)", uint8(o))
}

// Input is a logical tensor: what a model parameter is made of after the
// architecture's sanitize, before the conversion's cast/quantize. DType is
// its dtype after the op (a differing dtype means a cast, as the AWQ import
// casts every float to the scales' dtype).
type Input struct {
	Name    string
	DType   mlx.DType
	Shape   []int
	Op      SourceOp
	Sources []SourceTensor
}

// NumElements returns the product of the shape.
func (in *Input) NumElements() int64 { return numElements(in.Shape) }

func numElements(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}

// tensorSet is the sanitize stage's working set: name → logical tensor, in
// insertion order (as a Python dict).
type tensorSet struct {
	order []string
	m     map[string]*Input
}

func newTensorSet(src []SourceTensor) *tensorSet {
	ts := &tensorSet{m: make(map[string]*Input, len(src))}
	for _, t := range src {
		dt := t.DType
		if dt == mlx.F8E4M3 || dt == mlx.F8E5M2 {
			dt = mlx.U8 // mx.load returns FP8 tensors as uint8
		}
		ts.set(t.Name, &Input{Name: t.Name, DType: dt, Shape: slices.Clone(t.Shape), Op: OpDirect, Sources: []SourceTensor{t}})
	}
	return ts
}

func (ts *tensorSet) get(name string) (*Input, bool) {
	in, ok := ts.m[name]
	return in, ok
}

func (ts *tensorSet) has(name string) bool { _, ok := ts.m[name]; return ok }

// set adds or replaces name (a replaced name keeps its position).
func (ts *tensorSet) set(name string, in *Input) {
	in.Name = name
	if _, ok := ts.m[name]; !ok {
		ts.order = append(ts.order, name)
	}
	ts.m[name] = in
}

// pop removes and returns name.
func (ts *tensorSet) pop(name string) (*Input, bool) {
	in, ok := ts.m[name]
	if !ok {
		return nil, false
	}
	delete(ts.m, name)
	i := slices.Index(ts.order, name)
	ts.order = slices.Delete(ts.order, i, i+1)
	return in, true
}

// names returns the names in order (a copy).
func (ts *tensorSet) names() []string { return slices.Clone(ts.order) }

func (ts *tensorSet) len() int { return len(ts.order) }

// filter keeps the names for which keep returns true.
func (ts *tensorSet) filter(keep func(name string) bool) {
	out := ts.order[:0]
	for _, n := range ts.order {
		if keep(n) {
			out = append(out, n)
		} else {
			delete(ts.m, n)
		}
	}
	ts.order = out
}

// rename renames every tensor to f(name), keeping the order, as a Python
// dict rebuilt under new keys: when two names map to one, the first one's
// position holds the last one's tensor.
func (ts *tensorSet) rename(f func(name string) string) {
	old, m := ts.order, ts.m
	ts.order, ts.m = make([]string, 0, len(old)), make(map[string]*Input, len(old))
	for _, n := range old {
		ts.set(f(n), m[n])
	}
}

// stack pops srcs (all present, same dtype and shape) and sets dst to
// their stack along a new leading axis.
func (ts *tensorSet) stack(dst string, srcs []string) error {
	var parts []*Input
	for _, s := range srcs {
		in, ok := ts.m[s]
		if !ok {
			return fmt.Errorf("%w: stacking %q: tensor %q is missing", ErrWeights, dst, s)
		}
		if len(parts) > 0 {
			p := parts[0]
			if in.DType != p.DType || !slices.Equal(in.Shape, p.Shape) {
				return fmt.Errorf("%w: stacking %q: tensor %q is %s%v, but %q is %s%v", ErrWeights, dst,
					s, in.DType, in.Shape, p.Name, p.DType, p.Shape)
			}
		}
		if in.Op != OpDirect {
			return fmt.Errorf("%w: stacking %q: tensor %q is itself derived (%s)", ErrWeights, dst, s, in.Op)
		}
		parts = append(parts, in)
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: stacking %q: no experts", ErrWeights, dst)
	}
	out := &Input{DType: parts[0].DType, Op: OpStack, Shape: append([]int{len(parts)}, parts[0].Shape...)}
	for _, p := range parts {
		out.Sources = append(out.Sources, p.Sources[0])
	}
	for _, s := range srcs {
		ts.pop(s)
	}
	ts.set(dst, out)
	return nil
}

// withPrefix returns the names starting with prefix, in order.
func (ts *tensorSet) withPrefix(prefix string) []string {
	var out []string
	for _, n := range ts.order {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}
