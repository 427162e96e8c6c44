package convert

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// unitBytes bounds the input bytes one work unit reads: jobs are split
// into row ranges of at most this many input bytes (at least one row), so
// memory stays bounded however large a tensor is. Casts are elementwise
// and quantization works on whole rows, so splitting changes no byte.
const unitBytes = 8 << 20

// unit is a row range of one part (one stacked expert, or the whole tensor)
// of one job.
type unit struct {
	job    int
	part   int
	r0, r1 int64 // rows [r0, r1) within the part
	whole  bool  // AWQ ops: the whole job in one go
}

// jobGeom describes how a job's inputs and outputs split into rows.
type jobGeom struct {
	parts       int
	rowsPerPart int64
	inRow       []int64 // bytes per row of each input, per part (source dtype)
	outRow      []int64 // bytes per row of each output
	whole       bool
}

// rowWidth returns the elements per row of a job's first input: 1 for
// copy/cast (elementwise), the last dimension for quantize/dequantize.
// An ActTransform job's rows are the last dimension, as quantization's.
func rowWidth(j *Job, in *Input) int64 {
	if j.Action == ActCopy || j.Action == ActCast {
		return 1
	}
	if len(in.Shape) == 0 {
		return 1
	}
	return int64(in.Shape[len(in.Shape)-1])
}

func geometry(p *Plan, j *Job) (jobGeom, error) {
	var g jobGeom
	in0 := j.Inputs[0]
	for _, in := range j.Inputs {
		if in.Op != OpDirect && in.Op != OpStack {
			g.whole = true
		}
	}
	g.parts = 1
	if in0.Op == OpStack {
		g.parts = len(in0.Sources)
	}
	for _, in := range j.Inputs {
		n := 1
		if in.Op == OpStack {
			n = len(in.Sources)
		}
		if n != g.parts {
			g.whole = true
		}
	}
	if g.whole {
		g.parts = 1
	}
	total := in0.NumElements()
	width := rowWidth(j, in0)
	if width == 0 || total == 0 {
		g.rowsPerPart = 0
		return g, nil
	}
	rows := total / width
	if rows%int64(g.parts) != 0 {
		return g, fmt.Errorf("job %q: %d rows do not split into %d parts", j.Module, rows, g.parts)
	}
	g.rowsPerPart = rows / int64(g.parts)
	for _, in := range j.Inputs {
		b := in.NumElements() * int64(in.DType.Size())
		if b%rows != 0 {
			return g, fmt.Errorf("job %q: input %q (%d bytes) does not split into %d rows", j.Module, in.Name, b, rows)
		}
		g.inRow = append(g.inRow, b/rows)
	}
	for _, o := range j.Outputs {
		b := p.Tensors[o].Size()
		if b%rows != 0 {
			return g, fmt.Errorf("job %q: output %q (%d bytes) does not split into %d rows", j.Module, p.Tensors[o].Name, b, rows)
		}
		g.outRow = append(g.outRow, b/rows)
	}
	return g, nil
}

// shardWriter is where a shard's bytes go.
type shardWriter struct {
	w       io.WriterAt
	dataOff int64 // file offset of the data section
}

// executor runs a plan's jobs on a bounded pool of workers.
type executor struct {
	plan    *Plan
	inv     *Inventory
	backend mlx.Backend
	shards  []shardWriter
	workers int

	mu         sync.Mutex
	remaining  []int // units left per job
	progress   func(Progress)
	prog       Progress
	unitLimit  int64
	readerPool sync.Pool
}

func (e *executor) reader(file int) (*safetensors.Reader, error) {
	if file < 0 || file >= len(e.inv.readers) || e.inv.readers[file] == nil {
		return nil, fmt.Errorf("convert: input file %d is not open", file)
	}
	return e.inv.readers[file], nil
}

// readRows reads rows [r0, r1) of part part of input in (row size rowB
// bytes in the source dtype, which equals the input dtype for direct and
// stacked inputs except FP8 relabelled as U8).
func (e *executor) readRows(in *Input, part int, r0, r1, rowB int64) ([]byte, error) {
	src := in.Sources[part]
	rd, err := e.reader(src.File)
	if err != nil {
		return nil, err
	}
	sec, err := rd.Section(src.Name)
	if err != nil {
		return nil, err
	}
	buf := e.getBuf(int((r1 - r0) * rowB))
	if _, err := sec.ReadAt(buf, r0*rowB); err != nil && !(err == io.EOF && len(buf) == 0) {
		e.putBuf(buf)
		return nil, fmt.Errorf("convert: %s: tensor %q: read: %w", rd.Name(), src.Name, err)
	}
	return buf, nil
}

// getBuf returns a buffer of n bytes from the pool (its contents are
// garbage); putBuf returns it. Reusing read buffers spares the allocator
// and the garbage collector most of the input volume.
func (e *executor) getBuf(n int) []byte {
	if p, ok := e.readerPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n, max(n, int(e.unitLimit)))
}

func (e *executor) putBuf(b []byte) {
	if int64(cap(b)) >= e.unitLimit && int64(cap(b)) <= 4*e.unitLimit {
		e.readerPool.Put(&b)
	}
}

// readWhole reads a source tensor completely.
func (e *executor) readWhole(src SourceTensor) ([]byte, error) {
	rd, err := e.reader(src.File)
	if err != nil {
		return nil, err
	}
	return rd.ReadTensor(src.Name, nil)
}

// materialize produces the whole logical input (for AWQ-derived inputs and
// mismatched stacks).
func (e *executor) materialize(in *Input) ([]byte, error) {
	var out []byte
	var dt mlx.DType
	switch in.Op {
	case OpDirect, OpStack:
		for _, s := range in.Sources {
			b, err := e.readWhole(s)
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
		dt = in.Sources[0].DType
	case OpAWQWeight:
		q, err := e.readWhole(in.Sources[0])
		if err != nil {
			return nil, err
		}
		s := in.Sources[0].Shape
		if out, err = awqWeight(q, s[0], s[1]); err != nil {
			return nil, fmt.Errorf("convert: tensor %q: %w", in.Sources[0].Name, err)
		}
		dt = mlx.U32
	case OpAWQScales, OpAWQBiases:
		sc, err := e.readWhole(in.Sources[0])
		if err != nil {
			return nil, err
		}
		s := in.Sources[0].Shape
		dt = in.Sources[0].DType
		out = transpose2D(sc, s[0], s[1], dt.Size())
		if in.Op == OpAWQBiases {
			var qz []byte
			if len(in.Sources) > 1 {
				if qz, err = e.readWhole(in.Sources[1]); err != nil {
					return nil, err
				}
			}
			if out, err = awqBiases(out, dt, s[1], s[0], qz); err != nil {
				return nil, fmt.Errorf("convert: tensor %q: %w", in.Name, err)
			}
		}
	default:
		return nil, fmt.Errorf("convert: input %q: unknown op %v", in.Name, in.Op)
	}
	return e.toInputDType(out, dt, in)
}

// toInputDType converts source-dtype bytes to the input's dtype (AWQ's
// cast to the model dtype; FP8 is only relabelled).
func (e *executor) toInputDType(b []byte, from mlx.DType, in *Input) ([]byte, error) {
	if from == in.DType || !from.IsFloat() || !in.DType.IsFloat() {
		return b, nil
	}
	out, err := e.backend.Cast(b, from, in.DType)
	if err != nil {
		return nil, fmt.Errorf("convert: tensor %q: cast %s to %s: %w", in.Name, from, in.DType, err)
	}
	return out, nil
}

// run executes every job. It stops at the first error or when ctx is
// done.
func (e *executor) run(ctx context.Context) error {
	p := e.plan
	geoms := make([]jobGeom, len(p.Jobs))
	var units []unit
	e.remaining = make([]int, len(p.Jobs))
	if e.unitLimit <= 0 {
		e.unitLimit = unitBytes
	}
	limit := e.unitLimit
	for ji := range p.Jobs {
		g, err := geometry(p, &p.Jobs[ji])
		if err != nil {
			return err
		}
		geoms[ji] = g
		if g.whole || g.rowsPerPart == 0 {
			units = append(units, unit{job: ji, whole: true})
			e.remaining[ji] = 1
			continue
		}
		var rowB int64
		for _, b := range g.inRow {
			rowB += b
		}
		step := max(limit/max(rowB, 1), 1)
		if j := &p.Jobs[ji]; j.Action == ActTransform {
			grp := max(j.Transform.RowGroup(), 1)
			if g.rowsPerPart%grp != 0 {
				return fmt.Errorf("job %q: %d rows are not a multiple of the transform's row group %d", j.Module, g.rowsPerPart, grp)
			}
			step = (step + grp - 1) / grp * grp
		}
		for part := 0; part < g.parts; part++ {
			for r := int64(0); r < g.rowsPerPart; r += step {
				units = append(units, unit{job: ji, part: part, r0: r, r1: min(r+step, g.rowsPerPart)})
				e.remaining[ji]++
			}
		}
	}
	for _, t := range p.Tensors {
		e.prog.BytesTotal += t.Size()
	}
	e.prog.TensorsTotal = len(p.Tensors)
	e.prog.Stage = StageWrite
	e.report()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan unit)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	workers := max(e.workers, 1)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range ch {
				if ctx.Err() != nil {
					continue
				}
				if err := e.do(u, &geoms[u.job]); err != nil {
					fail(err)
				}
			}
		}()
	}
	// Read ahead: while unit i is dispatched, ask the kernel to fetch the
	// input of the units about readAhead bytes further on.
	ahead, aheadBytes := 0, int64(0)
	readAhead := max(4*limit, 32<<20)
feed:
	for i, u := range units {
		for ; ahead < len(units) && (ahead <= i || aheadBytes < readAhead); ahead++ {
			aheadBytes += e.advise(units[ahead], &geoms[units[ahead].job])
		}
		aheadBytes -= e.unitInputBytes(u, &geoms[u.job])
		select {
		case ch <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// unitInputBytes returns the input bytes a unit reads.
func (e *executor) unitInputBytes(u unit, g *jobGeom) int64 {
	if u.whole {
		var n int64
		for _, in := range e.plan.Jobs[u.job].Inputs {
			for _, s := range in.Sources {
				n += numElements(s.Shape) * int64(s.DType.Size())
			}
		}
		return n
	}
	var n int64
	for _, b := range g.inRow {
		n += b * (u.r1 - u.r0)
	}
	return n
}

// advise issues read-ahead hints for a unit's input ranges and returns
// their size.
func (e *executor) advise(u unit, g *jobGeom) int64 {
	j := &e.plan.Jobs[u.job]
	for k, in := range j.Inputs {
		srcs := in.Sources
		if !u.whole {
			srcs = srcs[u.part : u.part+1]
		}
		for _, s := range srcs {
			if s.File >= len(e.inv.closers) || s.File >= len(e.inv.readers) {
				continue
			}
			rd := e.inv.readers[s.File]
			info, ok := rd.Tensor(s.Name)
			if !ok {
				continue
			}
			off, n := rd.DataOffset()+info.Begin, info.Size()
			if !u.whole {
				rowB := g.inRow[k] * int64(s.DType.Size()) / int64(max(in.DType.Size(), 1))
				off += u.r0 * rowB
				n = (u.r1 - u.r0) * rowB
			}
			adviseWillNeed(e.inv.closers[s.File], off, n)
		}
	}
	return e.unitInputBytes(u, g)
}

func (e *executor) report() {
	if e.progress != nil {
		e.progress(e.prog)
	}
}

// done records a finished unit and reports progress when its job is
// complete.
func (e *executor) done(ji int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.remaining[ji]--
	if e.remaining[ji] > 0 {
		return
	}
	j := &e.plan.Jobs[ji]
	for _, o := range j.Outputs {
		t := &e.plan.Tensors[o]
		e.prog.TensorsDone++
		e.prog.BytesDone += t.Size()
		e.prog.Tensor = t.Name
	}
	e.report()
}

// write writes b to output tensor o at byte offset off within the tensor.
func (e *executor) write(o int, off int64, b []byte) error {
	t := &e.plan.Tensors[o]
	if off+int64(len(b)) > t.Size() {
		return fmt.Errorf("convert: tensor %q: %d bytes at %d exceed its %d bytes", t.Name, len(b), off, t.Size())
	}
	sw := e.shards[t.Shard]
	if _, err := sw.w.WriteAt(b, sw.dataOff+t.Offset+off); err != nil {
		return fmt.Errorf("convert: write %q: tensor %q: %w", e.plan.Shards[t.Shard].Name, t.Name, err)
	}
	return nil
}

// do runs one unit.
func (e *executor) do(u unit, g *jobGeom) error {
	j := &e.plan.Jobs[u.job]
	var ins [][]byte
	var rows int64
	if u.whole {
		for _, in := range j.Inputs {
			b, err := e.materialize(in)
			if err != nil {
				return err
			}
			ins = append(ins, b)
		}
		if w := rowWidth(j, j.Inputs[0]); w > 0 {
			rows = j.Inputs[0].NumElements() / w
		}
	} else {
		rows = u.r1 - u.r0
		var pooled [][]byte
		defer func() {
			for _, b := range pooled {
				e.putBuf(b)
			}
		}()
		for k, in := range j.Inputs {
			b, err := e.readRows(in, u.part, u.r0, u.r1, g.inRow[k]*int64(in.Sources[u.part].DType.Size())/int64(max(in.DType.Size(), 1)))
			if err != nil {
				return err
			}
			pooled = append(pooled, b)
			if b, err = e.toInputDType(b, in.Sources[u.part].DType, in); err != nil {
				return err
			}
			ins = append(ins, b)
		}
	}
	outs, err := e.transform(j, ins, rows, u.whole, quantChunk(j, u, g))
	if err != nil {
		return fmt.Errorf("convert: module %q: %s: %w", j.Module, j.Action, err)
	}
	if len(outs) != len(j.Outputs) {
		return fmt.Errorf("convert: module %q: %s produced %d outputs, want %d", j.Module, j.Action, len(outs), len(j.Outputs))
	}
	for k, o := range j.Outputs {
		var off int64
		if !u.whole {
			off = (int64(u.part)*g.rowsPerPart + u.r0) * g.outRow[k]
			if want := rows * g.outRow[k]; int64(len(outs[k])) != want {
				return fmt.Errorf("convert: module %q: output %q is %d bytes, want %d", j.Module, e.plan.Tensors[o].Name, len(outs[k]), want)
			}
		} else if int64(len(outs[k])) != e.plan.Tensors[o].Size() {
			return fmt.Errorf("convert: module %q: output %q is %d bytes, want %d", j.Module, e.plan.Tensors[o].Name, len(outs[k]), e.plan.Tensors[o].Size())
		}
		if err := e.write(o, off, outs[k]); err != nil {
			return err
		}
	}
	if r, ok := j.Transform.(Releaser); ok && j.Action == ActTransform {
		for _, b := range outs {
			r.Release(b)
		}
	}
	e.done(u.job)
	return nil
}

// quantChunk places a quantize unit's rows in the whole output tensor (the
// stack of all parts): MLX's MX scale bytes on arm64 depend on a group's
// index in the whole tensor (mlx.Chunk). It is zero for whole units and
// other actions.
func quantChunk(j *Job, u unit, g *jobGeom) mlx.Chunk {
	in0 := j.Inputs[0]
	if u.whole || j.Action != ActQuantize || j.Quant.GroupSize <= 0 || len(in0.Shape) == 0 {
		return mlx.Chunk{}
	}
	perRow := int64(in0.Shape[len(in0.Shape)-1]) / int64(j.Quant.GroupSize)
	return mlx.Chunk{
		Group:  int((int64(u.part)*g.rowsPerPart + u.r0) * perRow),
		Groups: int(int64(g.parts) * g.rowsPerPart * perRow),
	}
}

// transform applies a job's action to rows of its inputs (chunk: where a
// quantize unit's rows lie in the whole tensor).
func (e *executor) transform(j *Job, ins [][]byte, rows int64, whole bool, chunk mlx.Chunk) ([][]byte, error) {
	in0 := j.Inputs[0]
	switch j.Action {
	case ActTransform:
		if j.Transform == nil {
			return nil, fmt.Errorf("transform job without a Transformer")
		}
		return j.Transform.Transform(ins, rows, whole)
	case ActCopy:
		return [][]byte{ins[0]}, nil
	case ActCast:
		b, err := e.backend.Cast(ins[0], in0.DType, j.DType)
		return [][]byte{b}, err
	case ActQuantize:
		w, dt := ins[0], in0.DType
		if j.DType != mlx.Invalid && j.DType != dt {
			var err error
			if w, err = e.backend.Cast(w, dt, j.DType); err != nil {
				return nil, err
			}
			dt = j.DType
		}
		last := in0.Shape[len(in0.Shape)-1]
		p := j.Quant
		p.Chunk = chunk
		q, err := e.backend.Quantize(w, dt, []int{int(rows), last}, p)
		if err != nil {
			return nil, err
		}
		out := [][]byte{q.Weight, q.Scales}
		if j.Quant.Mode.HasBias() {
			out = append(out, q.Biases)
		}
		return out, nil
	case ActDequantize:
		w, s := j.Inputs[0], j.Inputs[1]
		scales := ins[1]
		sdt := s.DType
		var biases []byte
		if len(ins) > 2 {
			biases = ins[2]
		}
		if j.DType != mlx.Invalid && sdt.IsFloat() && j.DType != sdt {
			var err error
			if scales, err = e.backend.Cast(scales, sdt, j.DType); err != nil {
				return nil, err
			}
			if biases != nil {
				if biases, err = e.backend.Cast(biases, j.Inputs[2].DType, j.DType); err != nil {
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
		out := e.plan.Tensors[j.Outputs[0]].DType
		b, err := e.backend.Dequantize(q, j.Quant, out)
		return [][]byte{b}, err
	}
	return nil, fmt.Errorf("unknown action %v", j.Action)
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
