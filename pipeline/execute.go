package pipeline

import (
	"context"
	"sync"
)

// unit is one work item: a Unit of job job.
type unit struct {
	job int
	Unit
}

// executor runs jobs on a bounded pool of workers.
type executor struct {
	src       Source
	sink      Sink
	jobs      []Job
	workers   int
	unitLimit int64
	progress  func(Progress)
	prefix    string

	mu         sync.Mutex
	remaining  []int // units left per job
	prog       Progress
	readerPool sync.Pool
	outRow     [][]int64 // bytes per row of each output, per job
}

// run executes every job. It stops at the first error or when ctx is
// done.
func (e *executor) run(ctx context.Context) error {
	units, err := e.plan()
	if err != nil {
		return err
	}
	for _, j := range e.jobs {
		for _, o := range j.Outputs {
			e.prog.BytesTotal += o.Size
			e.prog.TensorsTotal++
		}
	}
	e.prog.Stage = StageWrite
	e.report()
	return e.dispatch(ctx, units)
}

// plan splits every job into units and sets e.remaining and e.outRow.
func (e *executor) plan() ([]unit, error) {
	var units []unit
	e.remaining = make([]int, len(e.jobs))
	e.outRow = make([][]int64, len(e.jobs))
	for ji := range e.jobs {
		ju, err := e.planJob(ji)
		if err != nil {
			return nil, err
		}
		units = append(units, ju...)
		e.remaining[ji] = len(ju)
	}
	return units, nil
}

// planJob splits job ji into units: the whole job, or per part runs of
// rows reading about unitLimit input bytes, rounded up to the row group.
func (e *executor) planJob(ji int) ([]unit, error) {
	j := &e.jobs[ji]
	if j.Whole || j.RowsPerPart == 0 {
		return []unit{{job: ji, Unit: Unit{Whole: true}}}, nil
	}
	parts := max(j.Parts, 1)
	rows := int64(parts) * j.RowsPerPart
	for _, in := range j.Inputs {
		if len(in.Slices) < parts {
			return nil, e.errorf("job %q: an input has %d slices for %d parts", j.Name, len(in.Slices), parts)
		}
	}
	for _, o := range j.Outputs {
		if o.Size%rows != 0 {
			return nil, e.errorf("job %q: output %q (%d bytes) does not split into %d rows", j.Name, o.Name, o.Size, rows)
		}
		e.outRow[ji] = append(e.outRow[ji], o.Size/rows)
	}
	var rowB int64
	for _, in := range j.Inputs {
		if !in.Side {
			rowB += in.RowBytes
		}
	}
	step := max(e.unitLimit/max(rowB, 1), 1)
	if grp := max(j.RowGroup, 1); grp > 1 {
		if j.RowsPerPart%grp != 0 {
			return nil, e.errorf("job %q: %d rows are not a multiple of the row group %d", j.Name, j.RowsPerPart, grp)
		}
		step = (step + grp - 1) / grp * grp
	}
	var units []unit
	for part := 0; part < parts; part++ {
		for r := int64(0); r < j.RowsPerPart; r += step {
			units = append(units, unit{job: ji, Unit: Unit{Part: part, R0: r, R1: min(r+step, j.RowsPerPart)}})
		}
	}
	return units, nil
}

// dispatch feeds units to e.workers workers, reading ahead, and returns
// the first error.
func (e *executor) dispatch(ctx context.Context, units []unit) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan unit)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for w := 0; w < e.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range ch {
				if ctx.Err() != nil {
					continue
				}
				if err := e.do(u); err != nil {
					fail(err)
				}
			}
		}()
	}
	// Read ahead: while unit i is dispatched, ask the kernel to fetch the
	// input of the units about readAhead bytes further on.
	ahead, aheadBytes := 0, int64(0)
	readAhead := max(4*e.unitLimit, 32<<20)
feed:
	for i, u := range units {
		for ; ahead < len(units) && (ahead <= i || aheadBytes < readAhead); ahead++ {
			aheadBytes += e.advise(units[ahead])
		}
		aheadBytes -= e.unitInputBytes(u)
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
func (e *executor) unitInputBytes(u unit) int64 {
	var n int64
	for _, in := range e.jobs[u.job].Inputs {
		if u.Whole {
			for _, s := range in.Slices {
				n += s.Size
			}
		} else {
			n += in.RowBytes * (u.R1 - u.R0)
		}
	}
	return n
}

// advise issues read-ahead hints for a unit's input ranges and returns
// their size.
func (e *executor) advise(u unit) int64 {
	for _, in := range e.jobs[u.job].Inputs {
		if u.Whole {
			for _, s := range in.Slices {
				e.src.Advise(s, 0, s.Size)
			}
			continue
		}
		e.src.Advise(in.Slices[u.Part], u.R0*in.RowBytes, (u.R1-u.R0)*in.RowBytes)
	}
	return e.unitInputBytes(u)
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
	for _, o := range e.jobs[ji].Outputs {
		e.prog.TensorsDone++
		e.prog.BytesDone += o.Size
		e.prog.Tensor = o.Name
	}
	e.report()
}

// do runs one unit.
func (e *executor) do(u unit) error {
	j := &e.jobs[u.job]
	var ins [][]byte
	var err error
	if u.Whole {
		ins, err = e.readWhole(j)
	} else {
		ins, err = e.readRows(j, u)
		defer func() {
			for _, b := range ins {
				e.putBuf(b)
			}
		}()
	}
	if err != nil {
		return err
	}
	outs, err := j.Transform(u.Unit, ins)
	if err != nil {
		return e.errorf("job %q: %w", j.Name, err)
	}
	if err := e.writeOutputs(u, outs); err != nil {
		return err
	}
	if j.Release != nil {
		for _, b := range outs {
			j.Release(b)
		}
	}
	e.done(u.job)
	return nil
}

// readWhole reads every slice of every input of j into fresh buffers.
func (e *executor) readWhole(j *Job) ([][]byte, error) {
	var ins [][]byte
	for _, in := range j.Inputs {
		for _, s := range in.Slices {
			b := make([]byte, s.Size)
			if err := e.src.ReadSlice(s, b, 0); err != nil {
				return nil, e.errorf("job %q: read %q: %w", j.Name, s.Tensor, err)
			}
			ins = append(ins, b)
		}
	}
	return ins, nil
}

// readRows reads the unit's rows of every input into pooled buffers. The
// buffers read are returned also on error, for the caller to put back.
func (e *executor) readRows(j *Job, u unit) ([][]byte, error) {
	var ins [][]byte
	rows := u.R1 - u.R0
	for _, in := range j.Inputs {
		n, off := rows*in.RowBytes, u.R0*in.RowBytes
		if in.Side {
			n, off = in.Slices[u.Part].Size, 0
		}
		b := e.getBuf(int(n))
		if err := e.src.ReadSlice(in.Slices[u.Part], b, off); err != nil {
			e.putBuf(b)
			return ins, e.errorf("job %q: read %q: %w", j.Name, in.Slices[u.Part].Tensor, err)
		}
		ins = append(ins, b)
	}
	return ins, nil
}

// writeOutputs checks the unit's outputs against the job and writes them
// at their place in the sink.
func (e *executor) writeOutputs(u unit, outs [][]byte) error {
	j := &e.jobs[u.job]
	if len(outs) != len(j.Outputs) {
		return e.errorf("job %q produced %d outputs, want %d", j.Name, len(outs), len(j.Outputs))
	}
	for k, o := range j.Outputs {
		off, want := int64(0), o.Size
		if !u.Whole {
			off = (int64(u.Part)*j.RowsPerPart + u.R0) * e.outRow[u.job][k]
			want = (u.R1 - u.R0) * e.outRow[u.job][k]
		}
		if int64(len(outs[k])) != want {
			return e.errorf("job %q: output %q is %d bytes, want %d", j.Name, o.Name, len(outs[k]), want)
		}
		if err := e.sink.WriteAt(o.File, outs[k], o.Offset+off); err != nil {
			return e.errorf("write %q: tensor %q: %w", e.sink.FileName(o.File), o.Name, err)
		}
	}
	return nil
}
