package convert

import (
	"fmt"
	"slices"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
	"github.com/mlxconv/mlxconv/model/source"
	"github.com/mlxconv/mlxconv/pipeline"
)

// Execution: a plan's jobs lowered to pipeline jobs over byte ranges of
// the source shards (source.StreamJob). Casts are elementwise and
// quantization works on whole rows, so the executor's row units change no
// byte.

// jobs lowers the plan's jobs to pipeline jobs writing into the MLX sink
// (output file i is shard i; dataOff[i] is its data section's offset).
func jobs(p *mlxPlan, backend mlx.Backend, dataOff []int64) ([]pipeline.Job, error) {
	out := make([]pipeline.Job, 0, len(p.Jobs))
	for ji := range p.Jobs {
		j := &p.Jobs[ji]
		var outs []pipeline.Output
		for _, o := range j.Outputs {
			t := &p.Tensors[o]
			outs = append(outs, pipeline.Output{Name: t.Name, File: t.Shard, Offset: dataOff[t.Shard] + t.Offset, Size: t.Size()})
		}
		var pj pipeline.Job
		pj, err := source.StreamJob(j.Module, j.Inputs, j.Action == actCopy || j.Action == actCast, outs, backend,
			func(u pipeline.Unit, ins [][]byte, rows int64) ([][]byte, error) {
				res, err := transform(backend, p, j, ins, rows, quantChunk(j, u, pj.Parts, pj.RowsPerPart))
				if err != nil {
					return nil, fmt.Errorf("convert: module %q: %s: %w", j.Module, j.Action, err)
				}
				return res, nil
			})
		if err != nil {
			return nil, err
		}
		out = append(out, pj)
	}
	return out, nil
}

// quantChunk places a quantize unit's rows in the whole output tensor (the
// stack of all parts): MLX's MX scale bytes on arm64 depend on a group's
// index in the whole tensor (mlx.Chunk). It is zero for whole units and
// other actions.
func quantChunk(j *planJob, u pipeline.Unit, parts int, rowsPerPart int64) mlx.Chunk {
	in0 := j.Inputs[0]
	if u.Whole || j.Action != actQuantize || j.Quant.GroupSize <= 0 || len(in0.Shape) == 0 {
		return mlx.Chunk{}
	}
	perRow := int64(in0.Shape[len(in0.Shape)-1]) / int64(j.Quant.GroupSize)
	return mlx.Chunk{
		Group:  int((int64(u.Part)*rowsPerPart + u.R0) * perRow),
		Groups: int(int64(parts) * rowsPerPart * perRow),
	}
}

// transform applies a job's action to rows of its inputs (chunk: where a
// quantize unit's rows lie in the whole tensor).
func transform(backend mlx.Backend, p *mlxPlan, j *planJob, ins [][]byte, rows int64, chunk mlx.Chunk) ([][]byte, error) {
	switch j.Action {
	case actCopy:
		return [][]byte{ins[0]}, nil
	case actCast:
		b, err := backend.Cast(ins[0], j.Inputs[0].DType, j.DType)
		return [][]byte{b}, err
	case actQuantize:
		return quantizeRows(backend, j, ins, rows, chunk)
	case actDequantize:
		return dequantizeRows(backend, p, j, ins, rows)
	}
	return nil, fmt.Errorf("unknown action %v", j.Action)
}

// quantizeRows quantizes rows of the weight, cast first to the job's
// dtype when it has one: weight, scales and (when the mode has them)
// biases.
func quantizeRows(backend mlx.Backend, j *planJob, ins [][]byte, rows int64, chunk mlx.Chunk) ([][]byte, error) {
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
func dequantizeRows(backend mlx.Backend, p *mlxPlan, j *planJob, ins [][]byte, rows int64) ([][]byte, error) {
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
func shardHeader(p *mlxPlan, s *outShard) ([]byte, error) {
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
