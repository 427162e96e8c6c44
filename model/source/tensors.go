package source

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
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
	// OpValue applies a sanitize value transform (Input.Value, a
	// model.ValueOp) to one direct source.
	OpValue
	// OpView is a slice of one source tensor (Input.View): reshaped, cut
	// along an axis, optionally with axes 1 and 2 swapped, reshaped again
	// (a sanitize's split / swapaxes / flatten).
	OpView
)

var sourceOpNames = [...]string{OpDirect: "direct", OpStack: "stack", OpAWQWeight: "awq-weight",
	OpAWQScales: "awq-scales", OpAWQBiases: "awq-biases", OpValue: "value", OpView: "view"}

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
	Value   model.ValueOp  // OpValue's transform
	View    *model.View    // OpView: how the one source becomes this tensor
	Scaling *model.Scaling // ValueScale's factor
	// Scales, when set, are the float32 block scales of float8_e4m3fn
	// Sources (one per source, Block×Block blocks): the input is their
	// bfloat16 dequantization (mlx-lm's FP8 sanitize), streamed row by
	// row with the scales read whole (a direct or stacked input), or
	// dequantized whole before an OpView.
	Scales []SourceTensor
	Block  int
	// Mul, when not 0, multiplies the (float) values by it in float32,
	// rounded back to DType, elementwise (compressed-tensors biases,
	// -8 * scales).
	Mul float32
}

// derived reports whether in is more than its sources' bytes as stored.
func (in *Input) derived() bool {
	return in.Op != OpDirect || in.Scales != nil || in.Mul != 0
}

// NumElements returns the product of the shape.
func (in *Input) NumElements() int64 { return NumElements(in.Shape) }

// NumElements returns the product of shape (1 for a scalar).
func NumElements(shape []int) int64 {
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

// stack pops srcs (all present, same dtype and shape) and sets dst to
// their stack along a new leading axis.
func (ts *tensorSet) stack(dst string, srcs []string) error {
	var parts []*Input
	for _, s := range srcs {
		in, ok := ts.m[s]
		if !ok {
			return fmt.Errorf("%w: stacking %q: tensor %q is missing", model.ErrWeights, dst, s)
		}
		if len(parts) > 0 {
			p := parts[0]
			if in.DType != p.DType || !slices.Equal(in.Shape, p.Shape) {
				return fmt.Errorf("%w: stacking %q: tensor %q is %s%v, but %q is %s%v", model.ErrWeights, dst,
					s, in.DType, in.Shape, p.Name, p.DType, p.Shape)
			}
		}
		if in.Op != OpDirect {
			return fmt.Errorf("%w: stacking %q: tensor %q is itself derived (%s)", model.ErrWeights, dst, s, in.Op)
		}
		if len(parts) > 0 && (len(in.Scales) != len(parts[0].Scales) || in.Block != parts[0].Block || in.Mul != parts[0].Mul) {
			return fmt.Errorf("%w: stacking %q: tensor %q and %q are not derived alike (FP8 block scales, multiplier)", model.ErrWeights, dst, s, parts[0].Name)
		}
		parts = append(parts, in)
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: stacking %q: no experts", model.ErrWeights, dst)
	}
	out := &Input{DType: parts[0].DType, Op: OpStack, Shape: append([]int{len(parts)}, parts[0].Shape...), Block: parts[0].Block, Mul: parts[0].Mul}
	for _, p := range parts {
		out.Sources = append(out.Sources, p.Sources[0])
		out.Scales = append(out.Scales, p.Scales...)
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

// view sets dst to a view of src (which stays): see model.View.
func (ts *tensorSet) view(dst, src string, v model.View) error {
	in, ok := ts.m[src]
	if !ok {
		return fmt.Errorf("%w: deriving %q: tensor %q is missing", model.ErrWeights, dst, src)
	}
	if in.Op != OpDirect || in.Mul != 0 {
		return fmt.Errorf("%w: deriving %q: tensor %q is itself derived (%s)", model.ErrWeights, dst, src, in.Op)
	}
	shape, err := v.OutShape(in.Shape)
	if err != nil {
		return fmt.Errorf("%w: deriving %q from %q: %w", model.ErrWeights, dst, src, err)
	}
	vc := v
	ts.set(dst, &Input{DType: in.DType, Shape: shape, Op: OpView, Sources: slices.Clone(in.Sources), View: &vc,
		Scales: slices.Clone(in.Scales), Block: in.Block})
	return nil
}

// rename gives name the new name to, keeping its position.
func (ts *tensorSet) rename(name, to string) error {
	in, ok := ts.m[name]
	if !ok {
		return fmt.Errorf("%w: renaming %q: tensor is missing", model.ErrWeights, name)
	}
	if name == to {
		return nil
	}
	if _, ok := ts.m[to]; ok {
		return fmt.Errorf("%w: renaming %q: tensor %q exists already", model.ErrWeights, name, to)
	}
	ts.order[slices.Index(ts.order, name)] = to
	delete(ts.m, name)
	in.Name = to
	ts.m[to] = in
	return nil
}

// split pops name (a direct source) and sets dsts to its equal parts along
// axis: byte ranges of the source (axis 0), or one byte range per index of
// axis 0, stacked (axis 1).
func (ts *tensorSet) split(name string, axis int, dsts []string) error {
	in, ok := ts.m[name]
	if !ok {
		return fmt.Errorf("%w: splitting %q: tensor is missing", model.ErrWeights, name)
	}
	if in.derived() {
		return fmt.Errorf("%w: splitting %q: tensor is itself derived (%s)", model.ErrWeights, name, in.Op)
	}
	shape, err := model.SplitShape(name, in.Shape, axis, len(dsts))
	if err != nil {
		return err
	}
	if axis < 0 {
		axis += len(in.Shape)
	}
	if err := ts.checkFree(name, dsts); err != nil {
		return err
	}
	src := in.Sources[0]
	ts.pop(name)
	esz := int64(src.DType.Size())
	if axis == 0 {
		size := NumElements(shape) * esz
		for i, d := range dsts {
			s := src
			s.Shape, s.Offset = slices.Clone(shape), src.Offset+int64(i)*size
			ts.set(d, &Input{DType: in.DType, Shape: slices.Clone(shape), Op: OpDirect, Sources: []SourceTensor{s}})
		}
		return nil
	}
	rowBytes := NumElements(in.Shape[1:]) * esz
	part := NumElements(shape[1:])
	for i, d := range dsts {
		out := &Input{DType: in.DType, Shape: slices.Clone(shape), Op: OpStack}
		for r := 0; r < in.Shape[0]; r++ {
			s := src
			s.Shape, s.Offset = slices.Clone(shape[1:]), src.Offset+int64(r)*rowBytes+int64(i)*part*esz
			out.Sources = append(out.Sources, s)
		}
		ts.set(d, out)
	}
	return nil
}

// checkFree fails when a part name other than name exists already.
func (ts *tensorSet) checkFree(name string, dsts []string) error {
	for _, d := range dsts {
		if _, ok := ts.m[d]; ok && d != name {
			return fmt.Errorf("%w: splitting %q: tensor %q exists already", model.ErrWeights, name, d)
		}
	}
	return nil
}

// interleave pops name (a direct source) and sets dsts[i] to the indices
// i, i+n, i+2n … (n = len(dsts)) along axis: per index of the axes before
// axis one strided source (a run per kept index, n runs apart), stacked.
func (ts *tensorSet) interleave(name string, axis int, dsts []string) error {
	in, ok := ts.m[name]
	if !ok {
		return fmt.Errorf("%w: splitting %q: tensor is missing", model.ErrWeights, name)
	}
	if in.Op != OpDirect || in.Sources[0].Run > 0 {
		return fmt.Errorf("%w: splitting %q: tensor is itself derived (%s)", model.ErrWeights, name, in.Op)
	}
	shape, err := model.InterleaveShape(name, in.Shape, axis, len(dsts))
	if err != nil {
		return err
	}
	if axis < 0 {
		axis += len(in.Shape)
	}
	if err := ts.checkFree(name, dsts); err != nil {
		return err
	}
	src := in.Sources[0]
	ts.pop(name)
	n := int64(len(dsts))
	innerBytes := NumElements(in.Shape[axis+1:]) * int64(src.DType.Size())
	outer := NumElements(in.Shape[:axis])
	for i, d := range dsts {
		out := &Input{DType: in.DType, Shape: slices.Clone(shape), Op: OpStack}
		for o := int64(0); o < outer; o++ {
			s := src
			s.Shape = slices.Clone(shape[axis:])
			s.Offset = src.Offset + (o*int64(in.Shape[axis])+int64(i))*innerBytes
			s.Run, s.Stride = innerBytes, n*innerBytes
			out.Sources = append(out.Sources, s)
		}
		ts.set(d, out)
	}
	return nil
}

// bitcast reads name's bytes (a direct source) as dtype, the last axis
// scaled by the element sizes' ratio, then the last two axes merged when
// flatten (mx.view(dtype), .flatten(-2)).
func (ts *tensorSet) bitcast(name, dtype string, flatten bool) error {
	in, ok := ts.m[name]
	if !ok {
		return fmt.Errorf("%w: bitcasting %q: tensor is missing", model.ErrWeights, name)
	}
	if in.Op != OpDirect || len(in.Sources) != 1 {
		return fmt.Errorf("%w: bitcasting %q: tensor is itself derived (%s)", model.ErrWeights, name, in.Op)
	}
	dt, err := mlx.ParseSafetensorsDType(dtype)
	if err != nil {
		return fmt.Errorf("%w: bitcasting %q: %w", model.ErrConfig, name, err)
	}
	if in.DType != in.Sources[0].DType {
		return fmt.Errorf("%w: bitcasting %q: tensor is cast (%s to %s)", model.ErrWeights, name, in.Sources[0].DType, in.DType)
	}
	shape, err := model.BitcastShape(name, in.Shape, in.DType.Size(), dt.Size(), flatten)
	if err != nil {
		return err
	}
	in.DType, in.Shape = dt, shape
	in.Sources[0].DType, in.Sources[0].Shape = dt, slices.Clone(shape)
	return nil
}

// transform makes name's values op of its values (a direct source; it
// becomes one whole unit when executed).
func (ts *tensorSet) transform(name string, op model.ValueOp) error {
	in, ok := ts.m[name]
	if !ok {
		return fmt.Errorf("%w: transforming %q: tensor is missing", model.ErrWeights, name)
	}
	if in.derived() {
		return fmt.Errorf("%w: transforming %q: tensor is itself derived (%s)", model.ErrWeights, name, in.Op)
	}
	shape, err := op.Shape(name, in.Shape)
	if err != nil {
		return err
	}
	if op == model.ValueAddOne && !in.DType.IsFloat() {
		return fmt.Errorf("%w: transforming %q: %s needs a float tensor, not %s", model.ErrWeights, name, op, in.DType)
	}
	in.Shape, in.Op, in.Value = shape, OpValue, op
	return nil
}

// dequantFP8 makes weight (a direct float8_e4m3fn [rows, cols] tensor) its
// bfloat16 (f32: float32) dequantization by scaleInv (direct float32
// [ceil(rows/block), ceil(cols/block)]), which it pops.
func (ts *tensorSet) dequantFP8(weight, scaleInv string, block int, f32 bool) error {
	w, okw := ts.m[weight]
	s, oks := ts.m[scaleInv]
	switch {
	case !okw:
		return fmt.Errorf("%w: tensor %q has no weight %q", model.ErrWeights, scaleInv, weight)
	case !oks:
		return fmt.Errorf("%w: dequantizing %q: tensor %q is missing", model.ErrWeights, weight, scaleInv)
	case w.derived() || s.derived():
		return fmt.Errorf("%w: dequantizing %q: tensor is itself derived (%s)", model.ErrWeights, weight, w.Op)
	case w.Sources[0].DType != mlx.F8E4M3 || len(w.Shape) != 2:
		return fmt.Errorf("%w: tensor %q is %s%v; a weight with a weight_scale_inv must be a 2-D float8_e4m3fn", model.ErrWeights, weight, w.Sources[0].DType, w.Shape)
	case block <= 0:
		return fmt.Errorf("%w: dequantizing %q: block size %d", model.ErrWeights, weight, block)
	}
	want := []int{(w.Shape[0] + block - 1) / block, (w.Shape[1] + block - 1) / block}
	if s.DType != mlx.F32 || !slices.Equal(s.Shape, want) {
		return fmt.Errorf("%w: tensor %q is %s%v; the FP8 block scales of %q %v must be float32%v", model.ErrWeights, scaleInv, s.DType, s.Shape, weight, w.Shape, want)
	}
	w.DType, w.Scales, w.Block = mlx.BF16, []SourceTensor{s.Sources[0]}, block
	if f32 {
		w.DType = mlx.F32
	}
	ts.pop(scaleInv)
	return nil
}

// viewUint32 relabels a direct 32-bit integer tensor as uint32.
func (ts *tensorSet) viewUint32(name string) error {
	in, ok := ts.m[name]
	switch {
	case !ok:
		return fmt.Errorf("%w: viewing %q as uint32: tensor is missing", model.ErrWeights, name)
	case in.derived():
		return fmt.Errorf("%w: viewing %q as uint32: tensor is itself derived (%s)", model.ErrWeights, name, in.Op)
	case in.DType != mlx.I32 && in.DType != mlx.U32:
		return fmt.Errorf("%w: tensor %q is %s%v; a packed weight must be int32 or uint32", model.ErrWeights, name, in.DType, in.Shape)
	}
	in.DType = mlx.U32
	return nil
}

// scaled sets dst to src (a direct float tensor) times factor.
func (ts *tensorSet) scaled(dst, src string, factor float32) error {
	in, ok := ts.m[src]
	switch {
	case !ok:
		return fmt.Errorf("%w: scaling %q: tensor is missing", model.ErrWeights, src)
	case in.derived():
		return fmt.Errorf("%w: scaling %q: tensor is itself derived (%s)", model.ErrWeights, src, in.Op)
	case !in.DType.IsFloat() || in.DType == mlx.F64 || factor == 0:
		return fmt.Errorf("%w: scaling %q (%s) by %v: a float tensor and a nonzero factor only", model.ErrWeights, src, in.DType, factor)
	}
	ts.set(dst, &Input{DType: in.DType, Shape: slices.Clone(in.Shape), Op: OpDirect, Sources: slices.Clone(in.Sources), Mul: factor})
	return nil
}

// scale makes name's values its values times sc (ValueScale; a direct
// float source, one whole unit when executed).
func (ts *tensorSet) scale(name string, sc model.Scaling) error {
	if err := ts.transform(name, model.ValueScale); err != nil {
		return err
	}
	in := ts.m[name]
	switch {
	case !in.DType.IsFloat() || in.DType == mlx.F64:
		return fmt.Errorf("%w: scaling %q: %s tensors are not supported", model.ErrWeights, name, in.DType)
	case sc.Rows != nil && (len(in.Shape) == 0 || in.Shape[0] != len(sc.Rows)):
		return fmt.Errorf("%w: scaling %q: %d row factors for shape %v", model.ErrWeights, name, len(sc.Rows), in.Shape)
	}
	in.Scaling = &sc
	if sc.Widen {
		in.DType = mlx.F32
	}
	return nil
}
