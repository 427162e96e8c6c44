package source

import (
	"fmt"
	"io"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/pipeline"
)

// Streaming: a job over a checkpoint's logical inputs lowered to a job of
// the pipeline executor over byte ranges of the source shards, and the
// Inventory as the executor's pipeline.Source.

// jobGeom describes how a job's inputs and outputs split into rows.
type jobGeom struct {
	parts       int
	rowsPerPart int64
	inRow       []int64 // bytes per row of each input, per part (input dtype)
	width       int64   // elements per row of the first input
	whole       bool
}

// geometry splits a job over ins into rows: a row is one element when
// elementwise, else the last dimension of ins[0].
func geometry(name string, ins []*Input, elementwise bool) (jobGeom, error) {
	var g jobGeom
	in0 := ins[0]
	g.parts, g.whole = jobParts(ins)
	total := in0.NumElements()
	g.width = 1
	if !elementwise && len(in0.Shape) > 0 {
		g.width = int64(in0.Shape[len(in0.Shape)-1])
	}
	if g.width == 0 || total == 0 {
		g.rowsPerPart = 0
		return g, nil
	}
	rows := total / g.width
	if rows%int64(g.parts) != 0 {
		return g, fmt.Errorf("job %q: %d rows do not split into %d parts", name, rows, g.parts)
	}
	g.rowsPerPart = rows / int64(g.parts)
	for _, in := range ins {
		b := in.NumElements() * int64(in.DType.Size())
		if b%rows != 0 {
			return g, fmt.Errorf("job %q: input %q (%d bytes) does not split into %d rows", name, in.Name, b, rows)
		}
		g.inRow = append(g.inRow, b/rows)
	}
	return g, nil
}

// jobParts returns the parts a job splits into: the sources of stacked
// inputs, one otherwise. A job is whole (one part, one unit) when an input
// is neither direct nor stacked or the inputs disagree on the parts.
func jobParts(ins []*Input) (parts int, whole bool) {
	inputParts := func(in *Input) int {
		if in.Op == OpStack {
			return len(in.Sources)
		}
		return 1
	}
	parts = inputParts(ins[0])
	for _, in := range ins {
		if in.Op != OpDirect && in.Op != OpStack || inputParts(in) != parts {
			return 1, true
		}
	}
	return parts, false
}

// RowFunc computes a unit's output bytes from its inputs, each in its
// Input dtype: rows rows (all of them for a whole unit).
type RowFunc func(u pipeline.Unit, ins [][]byte, rows int64) ([][]byte, error)

// StreamJob lowers a job over checkpoint inputs (as LoadModel yields them)
// to a pipeline job writing outs. Rows are single elements when
// elementwise, else the last dimension of ins[0]; stacked inputs split
// into parts (one expert each); derived inputs (AWQ imports) and
// mismatched stacks make one whole unit, materialized here. fn gets each
// input converted to its Input dtype (backend casts).
func StreamJob(name string, ins []*Input, elementwise bool, outs []pipeline.Output, backend mlx.Backend, fn RowFunc) (pipeline.Job, error) {
	g, err := geometry(name, ins, elementwise)
	if err != nil {
		return pipeline.Job{}, err
	}
	return streamJob(name, ins, &g, outs, backend, fn), nil
}

func streamJob(name string, ins []*Input, g *jobGeom, outs []pipeline.Output, backend mlx.Backend, fn RowFunc) pipeline.Job {
	pj := pipeline.Job{Name: name, Outputs: outs, Parts: g.parts, RowsPerPart: g.rowsPerPart, Whole: g.whole || g.rowsPerPart == 0}
	for k, in := range ins {
		pin := pipeline.Input{Slices: slicesOf(in.Sources)}
		if !pj.Whole {
			pin.RowBytes = g.inRow[k] * int64(in.Sources[0].DType.Size()) / int64(max(in.DType.Size(), 1))
		}
		pj.Inputs = append(pj.Inputs, pin)
		if len(in.Scales) > 0 {
			pj.Inputs = append(pj.Inputs, pipeline.Input{Slices: slicesOf(in.Scales), Side: true})
		}
	}
	pj.Transform = func(u pipeline.Unit, bufs [][]byte) ([][]byte, error) {
		var vals [][]byte
		var rows int64
		var err error
		if u.Whole {
			vals, err = materializeAll(backend, ins, bufs)
			if g.width > 0 {
				rows = ins[0].NumElements() / g.width
			}
		} else {
			rows = u.R1 - u.R0
			vals, err = rowValues(backend, ins, g, u, bufs)
		}
		if err != nil {
			return nil, err
		}
		return fn(u, vals, rows)
	}
	return pj
}

// slicesOf returns the pipeline slices reading srcs.
func slicesOf(srcs []SourceTensor) []pipeline.Slice {
	out := make([]pipeline.Slice, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, pipeline.Slice{File: s.File, Tensor: s.Name, Size: NumElements(s.Shape) * int64(s.DType.Size()), Offset: s.Offset,
			Run: s.Run, Stride: s.Stride})
	}
	return out
}

// materializeAll makes every input whole from a whole unit's buffers (one
// per slice: each input's sources, then its scales).
func materializeAll(backend mlx.Backend, ins []*Input, bufs [][]byte) ([][]byte, error) {
	vals := make([][]byte, 0, len(ins))
	k := 0
	for _, in := range ins {
		n := len(in.Sources) + len(in.Scales)
		if k+n > len(bufs) {
			return nil, fmt.Errorf("convert: tensor %q: %d buffers for %d slices", in.Name, len(bufs)-k, n)
		}
		b, err := materialize(backend, in, bufs[k:k+n])
		if err != nil {
			return nil, err
		}
		k += n
		vals = append(vals, b)
	}
	return vals, nil
}

// rowValues converts a row unit's buffers (one per pipeline input) to the
// inputs' dtypes; an FP8 input is dequantized by its side input's scales.
func rowValues(backend mlx.Backend, ins []*Input, g *jobGeom, u pipeline.Unit, bufs [][]byte) ([][]byte, error) {
	vals := make([][]byte, 0, len(ins))
	k := 0
	for i, in := range ins {
		if len(in.Scales) > 0 {
			src := in.Sources[u.Part]
			out := make([]byte, in.DType.Size()*len(bufs[k]))
			perRow := g.inRow[i] / int64(in.DType.Size())
			if err := mlx.DequantFP8BlockTo(out, in.DType, bufs[k], bufs[k+1], src.Shape[len(src.Shape)-1], in.Block, u.R0*perRow); err != nil {
				return nil, fmt.Errorf("convert: tensor %q: %w", src.Name, err)
			}
			vals = append(vals, out)
			k += 2
			continue
		}
		b, err := toInputDType(backend, bufs[k], in.Sources[u.Part].DType, in)
		if err != nil {
			return nil, err
		}
		vals = append(vals, mulConst(b, in.DType, in.Mul))
		k++
	}
	return vals, nil
}

// materialize produces the whole logical input from the bytes of its
// sources (for AWQ-derived inputs, value transforms and mismatched
// stacks).
func materialize(backend mlx.Backend, in *Input, srcs [][]byte) ([]byte, error) {
	var out []byte
	var dt mlx.DType
	var err error
	switch in.Op {
	case OpDirect, OpStack:
		if out, dt, err = assemble(in, srcs); err != nil {
			return nil, err
		}
	case OpAWQWeight:
		s := in.Sources[0].Shape
		if out, err = awqWeight(srcs[0], s[0], s[1]); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", in.Sources[0].Name, err)
		}
		dt = mlx.U32
	case OpAWQScales, OpAWQBiases:
		s := in.Sources[0].Shape
		dt = in.Sources[0].DType
		out = transpose2D(srcs[0], s[0], s[1], dt.Size())
		if in.Op == OpAWQBiases {
			var qz []byte
			if len(srcs) > 1 {
				qz = srcs[1]
			}
			if out, err = awqBiases(out, dt, s[1], s[0], qz); err != nil {
				return nil, fmt.Errorf("convert: tensor %q: %w", in.Name, err)
			}
		}
	case OpView:
		if out, dt, err = assemble(in, srcs); err != nil {
			return nil, err
		}
		if out, err = in.View.Apply(out, in.Sources[0].Shape, dt.Size()); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", in.Name, err)
		}
	case OpValue:
		dt = in.Sources[0].DType
		if out, err = valueOp(in.Value, in.Scaling, srcs[0], in.Sources[0].Shape, dt); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", in.Name, err)
		}
		dt = valueDType(in, dt)
	default:
		return nil, fmt.Errorf("convert: input %q: unknown op %v", in.Name, in.Op)
	}
	if out, err = toInputDType(backend, out, dt, in); err != nil {
		return nil, err
	}
	return mulConst(out, in.DType, in.Mul), nil
}

// assemble concatenates the sources of a direct, stacked or viewed input,
// dequantizing FP8 block-scaled ones (srcs: the sources, then the
// scales), and returns the bytes and their dtype.
func assemble(in *Input, srcs [][]byte) ([]byte, mlx.DType, error) {
	n := len(in.Sources)
	if len(in.Scales) == 0 {
		var out []byte
		for _, b := range srcs[:n] {
			out = append(out, b...)
		}
		return out, in.Sources[0].DType, nil
	}
	var out []byte
	for i, b := range srcs[:n] {
		s := in.Sources[i]
		d := make([]byte, in.DType.Size()*len(b))
		if err := mlx.DequantFP8BlockTo(d, in.DType, b, srcs[n+i], s.Shape[len(s.Shape)-1], in.Block, 0); err != nil {
			return nil, mlx.Invalid, fmt.Errorf("convert: tensor %q: %w", s.Name, err)
		}
		out = append(out, d...)
	}
	return out, in.DType, nil
}

// mulConst returns b (float values of dtype dt) times m, computed in
// float32 and rounded to dt (MLX's scalar * array); m == 0 returns b.
func mulConst(b []byte, dt mlx.DType, m float32) []byte {
	if m == 0 {
		return b
	}
	out := make([]byte, len(b))
	for i := 0; i < len(b)/dt.Size(); i++ {
		putFloat(out, i, dt, floatAt(b, i, dt)*m)
	}
	return out
}

// toInputDType converts source-dtype bytes to the input's dtype (AWQ's
// cast to the model dtype; FP8 is only relabelled).
func toInputDType(backend mlx.Backend, b []byte, from mlx.DType, in *Input) ([]byte, error) {
	if from == in.DType || !from.IsFloat() || !in.DType.IsFloat() {
		return b, nil
	}
	out, err := backend.Cast(b, from, in.DType)
	if err != nil {
		return nil, fmt.Errorf("convert: tensor %q: cast %s to %s: %w", in.Name, from, in.DType, err)
	}
	return out, nil
}

// ReadSlice implements pipeline.Source: it reads len(p) bytes of source
// slice s at offset off. The inventory must have been loaded from a
// directory.
func (inv *Inventory) ReadSlice(s pipeline.Slice, p []byte, off int64) error {
	if s.File < 0 || s.File >= len(inv.readers) || inv.readers[s.File] == nil {
		return fmt.Errorf("convert: input file %d is not open", s.File)
	}
	rd := inv.readers[s.File]
	sec, err := rd.Section(s.Tensor)
	if err != nil {
		return err
	}
	if s.Run > 0 {
		err = readStrided(sec, s, p, off)
	} else if _, err = sec.ReadAt(p, s.Offset+off); err == io.EOF && len(p) == 0 {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("convert: %s: tensor %q: read: %w", rd.Name(), s.Tensor, err)
	}
	return nil
}

// directRun is the run length from which a strided slice is read run by
// run; shorter runs are read as one span and gathered.
const directRun = 64 << 10

// readStrided fills p with the bytes at offset off of the strided slice s
// (s.Run > 0).
func readStrided(r io.ReaderAt, s pipeline.Slice, p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	first, last := off/s.Run, (off+int64(len(p))-1)/s.Run
	if s.Run >= directRun {
		for k := first; k <= last; k++ {
			lo, hi := max(off, k*s.Run), min(off+int64(len(p)), (k+1)*s.Run)
			if _, err := r.ReadAt(p[lo-off:hi-off], s.Offset+k*s.Stride+lo-k*s.Run); err != nil {
				return err
			}
		}
		return nil
	}
	base := s.Offset + first*s.Stride
	span := make([]byte, (last-first)*s.Stride+s.Run)
	if _, err := r.ReadAt(span, base); err != nil {
		return err
	}
	for k := first; k <= last; k++ {
		lo, hi := max(off, k*s.Run), min(off+int64(len(p)), (k+1)*s.Run)
		at := (k-first)*s.Stride + lo - k*s.Run
		copy(p[lo-off:hi-off], span[at:at+hi-lo])
	}
	return nil
}

// Advise implements pipeline.Source: a read-ahead hint for [off, off+n)
// of slice s.
func (inv *Inventory) Advise(s pipeline.Slice, off, n int64) {
	if s.File < 0 || s.File >= len(inv.closers) || s.File >= len(inv.readers) {
		return
	}
	rd := inv.readers[s.File]
	info, ok := rd.Tensor(s.Tensor)
	if !ok {
		return
	}
	start, size := s.Offset+off, n
	if s.Run > 0 && n > 0 { // the physical span of the runs
		first, last := off/s.Run, (off+n-1)/s.Run
		start, size = s.Offset+first*s.Stride, (last-first)*s.Stride+s.Run
	}
	adviseWillNeed(inv.closers[s.File], rd.DataOffset()+info.Begin+start, size)
}

// valueDType is the dtype of an OpValue's result from a dt source: float32
// for a Widen scaling, else dt.
func valueDType(in *Input, dt mlx.DType) mlx.DType {
	if in.Value == model.ValueScale && in.Scaling != nil && in.Scaling.Widen {
		return mlx.F32
	}
	return dt
}
