package convert

import (
	"fmt"
	"io"
	"slices"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/pipeline"
)

// Execution: a plan's jobs lowered to pipeline jobs over byte ranges of
// the source shards. Casts are elementwise and quantization works on whole
// rows, so the executor's row units change no byte.

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
		pin := pipeline.Input{}
		for _, s := range in.Sources {
			pin.Slices = append(pin.Slices, pipeline.Slice{File: s.File, Tensor: s.Name, Size: numElements(s.Shape) * int64(s.DType.Size()), Offset: s.Offset})
		}
		if !pj.Whole {
			pin.RowBytes = g.inRow[k] * int64(in.Sources[0].DType.Size()) / int64(max(in.DType.Size(), 1))
		}
		pj.Inputs = append(pj.Inputs, pin)
	}
	pj.Transform = func(u pipeline.Unit, bufs [][]byte) ([][]byte, error) {
		vals := make([][]byte, 0, len(ins))
		var rows int64
		if u.Whole {
			k := 0
			for _, in := range ins {
				n := len(in.Sources)
				b, err := materialize(backend, in, bufs[k:k+n])
				if err != nil {
					return nil, err
				}
				k += n
				vals = append(vals, b)
			}
			if g.width > 0 {
				rows = ins[0].NumElements() / g.width
			}
		} else {
			rows = u.R1 - u.R0
			for k, in := range ins {
				b, err := toInputDType(backend, bufs[k], in.Sources[u.Part].DType, in)
				if err != nil {
					return nil, err
				}
				vals = append(vals, b)
			}
		}
		return fn(u, vals, rows)
	}
	return pj
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
		for _, b := range srcs {
			out = append(out, b...)
		}
		dt = in.Sources[0].DType
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
	case OpValue:
		dt = in.Sources[0].DType
		if out, err = valueOp(in.Value, srcs[0], in.Sources[0].Shape, dt); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", in.Name, err)
		}
	default:
		return nil, fmt.Errorf("convert: input %q: unknown op %v", in.Name, in.Op)
	}
	return toInputDType(backend, out, dt, in)
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

// jobs lowers the plan's jobs to pipeline jobs writing into the MLX sink
// (output file i is shard i; dataOff[i] is its data section's offset).
func jobs(p *Plan, backend mlx.Backend, dataOff []int64) ([]pipeline.Job, error) {
	out := make([]pipeline.Job, 0, len(p.Jobs))
	for ji := range p.Jobs {
		j := &p.Jobs[ji]
		g, err := geometry(j.Module, j.Inputs, j.Action == ActCopy || j.Action == ActCast)
		if err != nil {
			return nil, err
		}
		var outs []pipeline.Output
		for _, o := range j.Outputs {
			t := &p.Tensors[o]
			outs = append(outs, pipeline.Output{Name: t.Name, File: t.Shard, Offset: dataOff[t.Shard] + t.Offset, Size: t.Size()})
		}
		gg := g
		out = append(out, streamJob(j.Module, j.Inputs, &gg, outs, backend, func(u pipeline.Unit, ins [][]byte, rows int64) ([][]byte, error) {
			res, err := transform(backend, p, j, ins, rows, quantChunk(j, u, &gg))
			if err != nil {
				return nil, fmt.Errorf("convert: module %q: %s: %w", j.Module, j.Action, err)
			}
			return res, nil
		}))
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
	if _, err := sec.ReadAt(p, s.Offset+off); err != nil && !(err == io.EOF && len(p) == 0) {
		return fmt.Errorf("convert: %s: tensor %q: read: %w", rd.Name(), s.Tensor, err)
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
	adviseWillNeed(inv.closers[s.File], rd.DataOffset()+info.Begin+s.Offset+off, n)
}

// quantChunk places a quantize unit's rows in the whole output tensor (the
// stack of all parts): MLX's MX scale bytes on arm64 depend on a group's
// index in the whole tensor (mlx.Chunk). It is zero for whole units and
// other actions.
func quantChunk(j *Job, u pipeline.Unit, g *jobGeom) mlx.Chunk {
	in0 := j.Inputs[0]
	if u.Whole || j.Action != ActQuantize || j.Quant.GroupSize <= 0 || len(in0.Shape) == 0 {
		return mlx.Chunk{}
	}
	perRow := int64(in0.Shape[len(in0.Shape)-1]) / int64(j.Quant.GroupSize)
	return mlx.Chunk{
		Group:  int((int64(u.Part)*g.rowsPerPart + u.R0) * perRow),
		Groups: int(int64(g.parts) * g.rowsPerPart * perRow),
	}
}

// transform applies a job's action to rows of its inputs (chunk: where a
// quantize unit's rows lie in the whole tensor).
func transform(backend mlx.Backend, p *Plan, j *Job, ins [][]byte, rows int64, chunk mlx.Chunk) ([][]byte, error) {
	switch j.Action {
	case ActCopy:
		return [][]byte{ins[0]}, nil
	case ActCast:
		b, err := backend.Cast(ins[0], j.Inputs[0].DType, j.DType)
		return [][]byte{b}, err
	case ActQuantize:
		return quantizeRows(backend, j, ins, rows, chunk)
	case ActDequantize:
		return dequantizeRows(backend, p, j, ins, rows)
	}
	return nil, fmt.Errorf("unknown action %v", j.Action)
}

// quantizeRows quantizes rows of the weight, cast first to the job's
// dtype when it has one: weight, scales and (when the mode has them)
// biases.
func quantizeRows(backend mlx.Backend, j *Job, ins [][]byte, rows int64, chunk mlx.Chunk) ([][]byte, error) {
	in0 := j.Inputs[0]
	w, dt := ins[0], in0.DType
	if j.DType != mlx.Invalid && j.DType != dt {
		var err error
		if w, err = backend.Cast(w, dt, j.DType); err != nil {
			return nil, err
		}
		dt = j.DType
	}
	last := in0.Shape[len(in0.Shape)-1]
	p := j.Quant
	p.Chunk = chunk
	q, err := backend.Quantize(w, dt, []int{int(rows), last}, p)
	if err != nil {
		return nil, err
	}
	out := [][]byte{q.Weight, q.Scales}
	if j.Quant.Mode.HasBias() {
		out = append(out, q.Biases)
	}
	return out, nil
}

// dequantizeRows dequantizes rows of weight, scales and optional biases
// to the output's dtype, casting float scales and biases to the job's
// dtype first when it has one.
func dequantizeRows(backend mlx.Backend, p *Plan, j *Job, ins [][]byte, rows int64) ([][]byte, error) {
	w, s := j.Inputs[0], j.Inputs[1]
	scales := ins[1]
	sdt := s.DType
	var biases []byte
	if len(ins) > 2 {
		biases = ins[2]
	}
	if j.DType != mlx.Invalid && sdt.IsFloat() && j.DType != sdt {
		var err error
		if scales, err = backend.Cast(scales, sdt, j.DType); err != nil {
			return nil, err
		}
		if biases != nil {
			if biases, err = backend.Cast(biases, j.Inputs[2].DType, j.DType); err != nil {
				return nil, err
			}
		}
		sdt = j.DType
	}
	q := mlx.Quantized{
		Weight:      ins[0],
		WeightShape: []int{int(rows), w.Shape[len(w.Shape)-1]},
		Scales:      scales,
		Biases:      biases,
		ScaleShape:  []int{int(rows), s.Shape[len(s.Shape)-1]},
		ScaleDType:  sdt,
	}
	out := p.Tensors[j.Outputs[0]].DType
	b, err := backend.Dequantize(q, j.Quant, out)
	return [][]byte{b}, err
}

// shardHeader builds a shard's safetensors header (MLX style, metadata
// {"format": "mlx"}) and checks that the layout matches the plan's
// offsets.
func shardHeader(p *Plan, s *Shard) ([]byte, error) {
	infos := make([]safetensors.TensorInfo, len(s.Tensors))
	for i, ti := range s.Tensors {
		t := &p.Tensors[ti]
		infos[i] = safetensors.TensorInfo{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape)}
	}
	laid, _, err := safetensors.Layout(infos)
	if err != nil {
		return nil, fmt.Errorf("convert: shard %q: %w", s.Name, err)
	}
	for i, ti := range s.Tensors {
		if laid[i].Begin != p.Tensors[ti].Offset {
			return nil, fmt.Errorf("convert: shard %q: tensor %q laid out at %d, planned at %d", s.Name, laid[i].Name, laid[i].Begin, p.Tensors[ti].Offset)
		}
	}
	return safetensors.Header(laid, map[string]string{"format": "mlx"}, safetensors.MLX)
}
