package pipeline

import (
	"context"
	"fmt"
	"runtime"
)

// Stage is the phase a Progress event belongs to.
type Stage uint8

const (
	// StagePlan: the plan is ready (TensorsTotal and BytesTotal known).
	StagePlan Stage = iota
	// StageWrite: tensors are being written.
	StageWrite
	// StageDone: everything is written and committed.
	StageDone
)

// Progress reports how far a run is.
type Progress struct {
	Stage        Stage
	TensorsDone  int
	TensorsTotal int
	BytesDone    int64 // output bytes written
	BytesTotal   int64
	Tensor       string // the last tensor completed
}

// Slice is a source tensor's bytes: a named byte range of input file
// File, Size bytes long, starting Offset bytes into the tensor (a part of
// it; 0 for the whole tensor). With Run > 0 the range is strided: runs of
// Run bytes, run k at Offset + k*Stride, Size/Run of them back to back
// (an interleaved split's part); the Source maps offsets within the slice
// to the runs.
type Slice struct {
	File   int
	Tensor string
	Size   int64
	Offset int64
	Run    int64
	Stride int64
}

// Source reads the inputs.
type Source interface {
	// ReadSlice fills p with the bytes of s at offset off within s (so at
	// s.Offset+off within the tensor).
	ReadSlice(s Slice, p []byte, off int64) error
	// Advise hints that [off, off+n) of s will be read soon (may do
	// nothing).
	Advise(s Slice, off, n int64)
}

// Input is one input of a job: row units of part p read rows of
// Slices[p] (RowBytes bytes per row); whole units read every slice. A Side
// input is read whole by every row unit of part p (all of Slices[p]): a
// small tensor a row transform needs entire, such as FP8 block scales.
type Input struct {
	Slices   []Slice
	RowBytes int64
	Side     bool
}

// Output is one output range of a job: Size bytes at Offset of sink file
// File. A row unit's bytes go at its rows' offset (Size/total rows per
// row).
type Output struct {
	Name   string // for progress and messages
	File   int
	Offset int64
	Size   int64
}

// Unit is the part of a job one call of Job.Transform handles.
type Unit struct {
	Part   int   // the part (stacked expert) of a row unit
	R0, R1 int64 // rows [R0, R1) within the part
	Whole  bool  // the whole job in one call
}

// Job produces its Outputs from its Inputs.
type Job struct {
	Name    string // for messages
	Inputs  []Input
	Outputs []Output
	// Parts and RowsPerPart split the job into rows (a part is one slice
	// of every input). Whole (or RowsPerPart 0) runs the job as one unit.
	Parts       int
	RowsPerPart int64
	Whole       bool
	// RowGroup: every row unit holds a multiple of this many rows (0 or
	// 1: any).
	RowGroup int64
	// Transform turns the unit's input bytes into each output's bytes for
	// the unit's rows. Row units get one buffer per input (rows R0..R1 of
	// the part's slice; the buffer is reused after Transform returns);
	// whole units get one buffer per slice, inputs in order. It is
	// called from several goroutines at once.
	Transform func(u Unit, ins [][]byte) ([][]byte, error)
	// Release, if set, takes back each output buffer once written.
	Release func([]byte)
}

// Sink is where a run's outputs go.
type Sink interface {
	// Open creates (and preallocates) the output files and writes what
	// precedes the streamed data.
	Open() error
	// WriteAt writes p at offset off of output file file.
	WriteAt(file int, p []byte, off int64) error
	// FileName names output file file in messages.
	FileName(file int) string
	// Commit finishes the outputs and moves them into place atomically.
	Commit() error
	// Abort removes everything the sink created (a no-op after Commit).
	Abort()
}

// Options tune Run.
type Options struct {
	// Workers is the number of units run in parallel (0: GOMAXPROCS).
	Workers int
	// UnitBytes bounds the input bytes of one row unit (0: 8 MiB); a
	// unit holds at least one row, and a job's units are rounded up to
	// whole row groups (Job.RowGroup).
	UnitBytes int64
	// Progress, if set, is called as jobs complete, from one goroutine at
	// a time. It must return quickly.
	Progress func(Progress)
	// Prefix starts the executor's messages ("convert", "gguf").
	Prefix string
}

// DefaultUnitBytes bounds the input bytes one work unit reads: jobs are
// split into row ranges of at most this many input bytes (at least one
// row), so memory stays bounded however large a tensor is.
const DefaultUnitBytes = 8 << 20

// Run opens sink, runs every job into it and commits it. On any error, or
// when ctx is done, the sink is aborted and the error (ctx.Err() for a
// cancellation) returned.
func Run(ctx context.Context, src Source, sink Sink, jobs []Job, opts Options) (err error) {
	committed := false
	defer func() {
		if !committed {
			sink.Abort()
		}
	}()
	if err := sink.Open(); err != nil {
		return err
	}
	ex := newExecutor(src, sink, jobs, opts)
	if err := ex.run(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sink.Commit(); err != nil {
		return err
	}
	committed = true
	if opts.Progress != nil {
		ex.prog.Stage = StageDone
		opts.Progress(ex.prog)
	}
	return nil
}

func newExecutor(src Source, sink Sink, jobs []Job, opts Options) *executor {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	limit := opts.UnitBytes
	if limit <= 0 {
		limit = DefaultUnitBytes
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "pipeline"
	}
	return &executor{src: src, sink: sink, jobs: jobs, workers: workers, unitLimit: limit,
		progress: opts.Progress, prefix: prefix}
}

func (e *executor) errorf(format string, args ...any) error {
	return fmt.Errorf(e.prefix+": "+format, args...)
}
