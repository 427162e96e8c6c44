package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlxconv/mlxconv/pipeline"
)

// memSource serves slices from memory, keyed by tensor name.
type memSource struct {
	data    map[string][]byte
	readErr map[string]error // ReadSlice of these tensors fails
	advised atomic.Int64
}

func (s *memSource) ReadSlice(sl pipeline.Slice, p []byte, off int64) error {
	if err := s.readErr[sl.Tensor]; err != nil {
		return err
	}
	b, ok := s.data[sl.Tensor]
	if !ok {
		return fmt.Errorf("no tensor %q", sl.Tensor)
	}
	if int64(len(b)) != sl.Size {
		return fmt.Errorf("tensor %q: slice size %d, have %d bytes", sl.Tensor, sl.Size, len(b))
	}
	if off < 0 || off+int64(len(p)) > int64(len(b)) {
		return fmt.Errorf("tensor %q: read [%d, %d) out of %d bytes", sl.Tensor, off, off+int64(len(p)), len(b))
	}
	copy(p, b[off:])
	return nil
}

func (s *memSource) Advise(sl pipeline.Slice, off, n int64) { s.advised.Add(1) }

// write is one recorded WriteAt call.
type write struct {
	file   int
	off, n int64
}

// fakeSink keeps its files in memory and records every call. Open fills
// each file with the 0xEE sentinel and writes a header at offset 0, so
// bytes no job should touch stay recognizable.
type fakeSink struct {
	sizes     []int64
	openErr   error
	commitErr error
	writeErr  func(file int, off int64) error

	mu                     sync.Mutex
	files                  [][]byte
	writes                 []write
	opens, commits, aborts int
}

const sentinel = 0xEE

var header = []byte("HDR!")

func (s *fakeSink) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	if s.openErr != nil {
		return s.openErr
	}
	s.files = make([][]byte, len(s.sizes))
	for i, n := range s.sizes {
		s.files[i] = bytes.Repeat([]byte{sentinel}, int(n))
		copy(s.files[i], header)
	}
	return nil
}

func (s *fakeSink) WriteAt(file int, p []byte, off int64) error {
	if s.writeErr != nil {
		if err := s.writeErr(file, off); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opens == 0 || s.commits > 0 || s.aborts > 0 {
		return fmt.Errorf("WriteAt outside Open..Commit/Abort")
	}
	if file < 0 || file >= len(s.files) || off < 0 || off+int64(len(p)) > int64(len(s.files[file])) {
		return fmt.Errorf("write [%d, %d) outside file %d", off, off+int64(len(p)), file)
	}
	copy(s.files[file][off:], p)
	s.writes = append(s.writes, write{file, off, int64(len(p))})
	return nil
}

func (s *fakeSink) FileName(file int) string { return fmt.Sprintf("out-%d.bin", file) }

func (s *fakeSink) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	return s.commitErr
}

func (s *fakeSink) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborts++
}

// checkWrites fails if two recorded writes overlap.
func (s *fakeSink) checkWrites(t *testing.T) {
	t.Helper()
	seen := map[int][]write{}
	for _, w := range s.writes {
		for _, o := range seen[w.file] {
			if w.off < o.off+o.n && o.off < w.off+w.n {
				t.Errorf("file %d: writes [%d,%d) and [%d,%d) overlap", w.file, o.off, o.off+o.n, w.off, w.off+w.n)
			}
		}
		seen[w.file] = append(seen[w.file], w)
	}
}

// scenario is a set of jobs over a memSource with the files a correct run
// must produce.
type scenario struct {
	src   *memSource
	jobs  []pipeline.Job
	sizes []int64
	want  [][]byte
}

// layout places outputs in files: a header, then each output after a
// 5-byte gap (left as sentinel bytes).
type layout struct{ cur []int64 }

func (l *layout) place(name string, file int, size int64) pipeline.Output {
	for len(l.cur) <= file {
		l.cur = append(l.cur, int64(len(header)))
	}
	l.cur[file] += 5
	o := pipeline.Output{Name: name, File: file, Offset: l.cur[file], Size: size}
	l.cur[file] += size
	return o
}

func randBytes(r *rand.Rand, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// newScenario builds four jobs covering every unit shape:
//   - "experts": 3 parts × 8 rows, two inputs (4 and 2 bytes a row), two
//     outputs in two files (each row's bytes concatenated; their sum);
//   - "grouped": 1 part × 16 rows in row groups of 4 (3 bytes a row,
//     output +1); its Transform rejects units that split a group;
//   - "whole": Whole over one input of two slices (output: both
//     reversed, concatenated);
//   - "norows": RowsPerPart 0, one slice (output: bytes inverted).
func newScenario() *scenario {
	r := rand.New(rand.NewPCG(1, 2))
	src := &memSource{data: map[string][]byte{}}
	slice := func(name string, n int64) pipeline.Slice {
		src.data[name] = randBytes(r, n)
		return pipeline.Slice{File: 0, Tensor: name, Size: n}
	}
	var l layout
	var jobs []pipeline.Job
	type placed struct {
		out  pipeline.Output
		data []byte
	}
	var outs []placed

	// experts
	const parts, rows, aRow, bRow = 3, 8, 4, 2
	var a, b pipeline.Input
	a.RowBytes, b.RowBytes = aRow, bRow
	for p := range parts {
		a.Slices = append(a.Slices, slice(fmt.Sprintf("experts.a.%d", p), rows*aRow))
		b.Slices = append(b.Slices, slice(fmt.Sprintf("experts.b.%d", p), rows*bRow))
	}
	cat := l.place("experts.cat", 0, parts*rows*(aRow+bRow))
	sum := l.place("experts.sum", 1, parts*rows)
	var wantCat, wantSum []byte
	for p := range parts {
		ab, bb := src.data[a.Slices[p].Tensor], src.data[b.Slices[p].Tensor]
		for r := range rows {
			wantCat = append(wantCat, ab[r*aRow:(r+1)*aRow]...)
			wantCat = append(wantCat, bb[r*bRow:(r+1)*bRow]...)
			wantSum = append(wantSum, rowSum(ab[r*aRow:(r+1)*aRow], bb[r*bRow:(r+1)*bRow]))
		}
	}
	outs = append(outs, placed{cat, wantCat}, placed{sum, wantSum})
	jobs = append(jobs, pipeline.Job{
		Name: "experts", Inputs: []pipeline.Input{a, b}, Outputs: []pipeline.Output{cat, sum},
		Parts: parts, RowsPerPart: rows,
		Transform: func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
			n := u.R1 - u.R0
			if u.Whole || len(ins) != 2 || int64(len(ins[0])) != n*aRow || int64(len(ins[1])) != n*bRow {
				return nil, fmt.Errorf("experts: bad unit %+v", u)
			}
			var c, s []byte
			for r := range n {
				ra, rb := ins[0][r*aRow:(r+1)*aRow], ins[1][r*bRow:(r+1)*bRow]
				c = append(append(c, ra...), rb...)
				s = append(s, rowSum(ra, rb))
			}
			return [][]byte{c, s}, nil
		},
	})

	// grouped
	const gRows, gRow, group = 16, 3, 4
	g := pipeline.Input{RowBytes: gRow, Slices: []pipeline.Slice{slice("grouped", gRows*gRow)}}
	gout := l.place("grouped.out", 0, gRows*gRow)
	outs = append(outs, placed{gout, addOne(src.data["grouped"])})
	jobs = append(jobs, pipeline.Job{
		Name: "grouped", Inputs: []pipeline.Input{g}, Outputs: []pipeline.Output{gout},
		RowsPerPart: gRows, RowGroup: group,
		Transform: func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
			if u.R0%group != 0 || u.R1%group != 0 {
				return nil, fmt.Errorf("unit [%d, %d) splits a row group of %d", u.R0, u.R1, group)
			}
			return [][]byte{addOne(ins[0])}, nil
		},
	})

	// whole
	w := pipeline.Input{Slices: []pipeline.Slice{slice("whole.0", 7), slice("whole.1", 5)}}
	wout := l.place("whole.out", 1, 12)
	outs = append(outs, placed{wout, append(reversed(src.data["whole.0"]), reversed(src.data["whole.1"])...)})
	jobs = append(jobs, pipeline.Job{
		Name: "whole", Inputs: []pipeline.Input{w}, Outputs: []pipeline.Output{wout}, Whole: true,
		Transform: func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
			if !u.Whole || len(ins) != 2 {
				return nil, fmt.Errorf("whole: bad unit %+v with %d buffers", u, len(ins))
			}
			return [][]byte{append(reversed(ins[0]), reversed(ins[1])...)}, nil
		},
	})

	// norows
	nr := pipeline.Input{Slices: []pipeline.Slice{slice("norows", 9)}}
	nout := l.place("norows.out", 0, 9)
	outs = append(outs, placed{nout, inverted(src.data["norows"])})
	jobs = append(jobs, pipeline.Job{
		Name: "norows", Inputs: []pipeline.Input{nr}, Outputs: []pipeline.Output{nout},
		Transform: func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
			if !u.Whole {
				return nil, fmt.Errorf("norows: bad unit %+v", u)
			}
			return [][]byte{inverted(ins[0])}, nil
		},
	})

	sc := &scenario{src: src, jobs: jobs}
	for _, c := range l.cur {
		sc.sizes = append(sc.sizes, c+3) // a trailing gap
	}
	for _, n := range sc.sizes {
		f := bytes.Repeat([]byte{sentinel}, int(n))
		copy(f, header)
		sc.want = append(sc.want, f)
	}
	for _, o := range outs {
		copy(sc.want[o.out.File][o.out.Offset:o.out.Offset+o.out.Size], o.data)
	}
	return sc
}

func (sc *scenario) sink() *fakeSink { return &fakeSink{sizes: sc.sizes} }

func rowSum(a, b []byte) byte {
	var s byte
	for _, x := range a {
		s += x
	}
	for _, x := range b {
		s += x
	}
	return s
}

func addOne(b []byte) []byte {
	o := make([]byte, len(b))
	for i, x := range b {
		o[i] = x + 1
	}
	return o
}

func reversed(b []byte) []byte {
	o := make([]byte, len(b))
	for i, x := range b {
		o[len(b)-1-i] = x
	}
	return o
}

func inverted(b []byte) []byte {
	o := make([]byte, len(b))
	for i, x := range b {
		o[i] = ^x
	}
	return o
}

func TestRunWritesOutputs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		workers   int
		unitBytes int64
	}{
		{"default units", 1, 0},
		{"one row a unit", 1, 1},
		{"two rows a unit", 3, 12},
		{"odd unit size", 2, 17},
		{"gomaxprocs workers", 0, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScenario()
			sink := sc.sink()
			err := pipeline.Run(context.Background(), sc.src, sink, sc.jobs,
				pipeline.Options{Workers: tc.workers, UnitBytes: tc.unitBytes})
			if err != nil {
				t.Fatal(err)
			}
			if sink.opens != 1 || sink.commits != 1 || sink.aborts != 0 {
				t.Errorf("Open/Commit/Abort calls = %d/%d/%d, want 1/1/0", sink.opens, sink.commits, sink.aborts)
			}
			for i := range sc.want {
				if !bytes.Equal(sink.files[i], sc.want[i]) {
					t.Errorf("file %d:\n got %x\nwant %x", i, sink.files[i], sc.want[i])
				}
			}
			sink.checkWrites(t)
			if sc.src.advised.Load() == 0 {
				t.Error("Source.Advise never called")
			}
		})
	}
}

func TestRunDeterministic(t *testing.T) {
	var first [][]byte
	for _, workers := range []int{1, 2, 8} {
		for _, unitBytes := range []int64{1, 6, 13, 0} {
			for rep := range 3 {
				sc := newScenario()
				sink := sc.sink()
				if err := pipeline.Run(context.Background(), sc.src, sink, sc.jobs,
					pipeline.Options{Workers: workers, UnitBytes: unitBytes}); err != nil {
					t.Fatalf("workers %d, unit %d: %v", workers, unitBytes, err)
				}
				if first == nil {
					first = sink.files
					continue
				}
				for i := range first {
					if !bytes.Equal(sink.files[i], first[i]) {
						t.Errorf("workers %d, unit %d, run %d: file %d differs from the 1-worker run", workers, unitBytes, rep, i)
					}
				}
			}
		}
	}
}

// TestRunRowUnits checks how row jobs are cut into units: every row of
// every part exactly once, in units that hold a whole number of row
// groups and at most UnitBytes input bytes (rounded up to a row group,
// at least one row), each buffer holding the unit's rows.
func TestRunRowUnits(t *testing.T) {
	for _, tc := range []struct {
		name        string
		parts       int
		rowsPerPart int64
		rowBytes    []int64 // one input per entry
		group       int64
		unitBytes   int64
		wantUnits   int
	}{
		{"one unit", 1, 10, []int64{4}, 0, 1 << 20, 1},
		{"row by row", 1, 5, []int64{4}, 1, 4, 5},
		{"below one row", 2, 3, []int64{8}, 0, 1, 6},
		{"uneven tail", 1, 10, []int64{4}, 0, 12, 4}, // 3+3+3+1
		{"two inputs share the bound", 1, 12, []int64{3, 1}, 0, 8, 6},
		{"parts split separately", 4, 6, []int64{2}, 0, 8, 8}, // 4+2 per part
		{"groups of 4", 1, 16, []int64{1}, 4, 8, 2},
		{"group rounds a small bound up", 1, 16, []int64{2}, 4, 2, 4},
		{"group rounds a partial bound up", 2, 12, []int64{1}, 4, 5, 4}, // 5 rows → 8: 8+4 per part
		{"one group fills the part", 1, 8, []int64{1}, 8, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &memSource{data: map[string][]byte{}}
			var ins []pipeline.Input
			var rowB int64
			for k, rb := range tc.rowBytes {
				in := pipeline.Input{RowBytes: rb}
				for p := range tc.parts {
					name := fmt.Sprintf("in%d.%d", k, p)
					src.data[name] = make([]byte, tc.rowsPerPart*rb)
					in.Slices = append(in.Slices, pipeline.Slice{Tensor: name, Size: tc.rowsPerPart * rb})
				}
				ins = append(ins, in)
				rowB += rb
			}
			total := int64(tc.parts) * tc.rowsPerPart
			out := pipeline.Output{Name: "out", Offset: int64(len(header)), Size: total}
			var mu sync.Mutex
			var units []pipeline.Unit
			job := pipeline.Job{
				Name: tc.name, Inputs: ins, Outputs: []pipeline.Output{out},
				Parts: tc.parts, RowsPerPart: tc.rowsPerPart, RowGroup: tc.group,
				Transform: func(u pipeline.Unit, bufs [][]byte) ([][]byte, error) {
					for k, b := range bufs {
						if int64(len(b)) != (u.R1-u.R0)*tc.rowBytes[k] {
							return nil, fmt.Errorf("unit %+v: input %d has %d bytes", u, k, len(b))
						}
					}
					mu.Lock()
					units = append(units, u)
					mu.Unlock()
					o := bytes.Repeat([]byte{byte(u.Part + 1)}, int(u.R1-u.R0))
					return [][]byte{o}, nil
				},
			}
			sink := &fakeSink{sizes: []int64{out.Offset + total}}
			if err := pipeline.Run(context.Background(), src, sink, []pipeline.Job{job},
				pipeline.Options{Workers: 3, UnitBytes: tc.unitBytes}); err != nil {
				t.Fatal(err)
			}
			if len(units) != tc.wantUnits {
				t.Errorf("%d units, want %d: %+v", len(units), tc.wantUnits, units)
			}
			grp := max(tc.group, 1)
			maxRows := max(tc.unitBytes/rowB, 1)
			maxRows = (maxRows + grp - 1) / grp * grp
			covered := make([][]int, tc.parts)
			for p := range covered {
				covered[p] = make([]int, tc.rowsPerPart)
			}
			for _, u := range units {
				n := u.R1 - u.R0
				switch {
				case u.Whole:
					t.Errorf("unit %+v is whole", u)
				case n <= 0 || u.R0 < 0 || u.R1 > tc.rowsPerPart || u.Part < 0 || u.Part >= tc.parts:
					t.Errorf("unit %+v out of range", u)
					continue
				case u.R0%grp != 0 || n%grp != 0:
					t.Errorf("unit %+v splits a row group of %d", u, grp)
				case n > maxRows:
					t.Errorf("unit %+v has %d rows, more than %d", u, n, maxRows)
				}
				for r := u.R0; r < u.R1; r++ {
					covered[u.Part][r]++
				}
			}
			for p := range covered {
				for r, c := range covered[p] {
					if c != 1 {
						t.Errorf("part %d row %d covered %d times", p, r, c)
					}
				}
			}
			// Each part's rows land at its place in the output.
			want := make([]byte, 0, total)
			for p := range tc.parts {
				want = append(want, bytes.Repeat([]byte{byte(p + 1)}, int(tc.rowsPerPart))...)
			}
			if got := sink.files[0][out.Offset:]; !bytes.Equal(got, want) {
				t.Errorf("output %x, want %x", got, want)
			}
		})
	}
}

var (
	errBoom   = errors.New("boom")
	errSink   = errors.New("sink failed")
	errSource = errors.New("disk on fire")
)

// TestRunJobErrors: a failing or malformed job stops the run, the sink is
// aborted and never committed, and the error names the job (or output).
func TestRunJobErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(sc *scenario) // breaks the scenario
		wantIs   error              // errors.Is target, if any
		wantText []string           // substrings of the error
	}{
		{"transform fails", func(sc *scenario) {
			sc.jobs[1].Transform = func(pipeline.Unit, [][]byte) ([][]byte, error) { return nil, errBoom }
		}, errBoom, []string{"test: ", `"grouped"`}},
		{"whole transform fails", func(sc *scenario) {
			sc.jobs[2].Transform = func(pipeline.Unit, [][]byte) ([][]byte, error) { return nil, errBoom }
		}, errBoom, []string{"test: ", `"whole"`}},
		{"read fails", func(sc *scenario) {
			sc.src.readErr = map[string]error{"experts.b.2": errSource}
		}, errSource, []string{"test: ", `"experts"`}},
		{"too few outputs", func(sc *scenario) {
			f := sc.jobs[0].Transform
			sc.jobs[0].Transform = func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
				o, err := f(u, ins)
				return o[:1], err
			}
		}, nil, []string{"test: ", `"experts"`, "produced 1 outputs, want 2"}},
		{"output too short", func(sc *scenario) {
			f := sc.jobs[0].Transform
			sc.jobs[0].Transform = func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
				o, err := f(u, ins)
				o[1] = o[1][1:]
				return o, err
			}
		}, nil, []string{"test: ", `"experts"`, `"experts.sum"`}},
		{"output does not split into rows", func(sc *scenario) {
			sc.jobs[1].Outputs[0].Size++
		}, nil, []string{"test: ", `"grouped"`, `"grouped.out"`}},
		{"fewer slices than parts", func(sc *scenario) {
			sc.jobs[0].Inputs[1].Slices = sc.jobs[0].Inputs[1].Slices[:2]
		}, nil, []string{"test: ", `"experts"`, "2 slices for 3 parts"}},
		{"rows not a multiple of the row group", func(sc *scenario) {
			sc.jobs[1].RowGroup = 5
		}, nil, []string{"test: ", `"grouped"`, "row group 5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, workers := range []int{1, 4} {
				sc := newScenario()
				tc.edit(sc)
				sink := sc.sink()
				var events []pipeline.Progress
				err := pipeline.Run(context.Background(), sc.src, sink, sc.jobs, pipeline.Options{
					Workers: workers, UnitBytes: 8, Prefix: "test",
					Progress: func(p pipeline.Progress) { events = append(events, p) },
				})
				if err == nil {
					t.Fatalf("workers %d: no error", workers)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("workers %d: error %q is not %q", workers, err, tc.wantIs)
				}
				for _, s := range tc.wantText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("workers %d: error %q does not contain %q", workers, err, s)
					}
				}
				if sink.commits != 0 || sink.aborts != 1 {
					t.Errorf("workers %d: Commit/Abort calls = %d/%d, want 0/1", workers, sink.commits, sink.aborts)
				}
				for _, e := range events {
					if e.Stage == pipeline.StageDone {
						t.Errorf("workers %d: StageDone reported on failure", workers)
					}
				}
			}
		})
	}
}

// TestRunSinkErrors: a failing Open, WriteAt or Commit is returned (as
// itself, errors.Is) and the sink is aborted.
func TestRunSinkErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		edit        func(s *fakeSink)
		wantCommits int
		wantWrites  bool
		wantText    []string
	}{
		{"open", func(s *fakeSink) { s.openErr = errSink }, 0, false, nil},
		{"write", func(s *fakeSink) {
			s.writeErr = func(file int, off int64) error {
				if file == 1 {
					return errSink
				}
				return nil
			}
		}, 0, true, []string{"out-1.bin"}},
		{"commit", func(s *fakeSink) { s.commitErr = errSink }, 1, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScenario()
			sink := sc.sink()
			tc.edit(sink)
			err := pipeline.Run(context.Background(), sc.src, sink, sc.jobs, pipeline.Options{Workers: 2, UnitBytes: 8})
			if !errors.Is(err, errSink) {
				t.Fatalf("error %v, want %v", err, errSink)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if sink.commits != tc.wantCommits || sink.aborts != 1 {
				t.Errorf("Commit/Abort calls = %d/%d, want %d/1", sink.commits, sink.aborts, tc.wantCommits)
			}
			if got := len(sink.writes) > 0; got != tc.wantWrites {
				t.Errorf("writes happened: %v, want %v", got, tc.wantWrites)
			}
		})
	}
}

// manyJobs returns n one-slice whole jobs whose Transform is fn.
func manyJobs(n int, fn func(pipeline.Unit, [][]byte) ([][]byte, error)) (*memSource, *fakeSink, []pipeline.Job) {
	src := &memSource{data: map[string][]byte{}}
	var jobs []pipeline.Job
	for i := range n {
		name := fmt.Sprintf("t%d", i)
		src.data[name] = []byte{byte(i), byte(i >> 8)}
		jobs = append(jobs, pipeline.Job{
			Name:      name,
			Inputs:    []pipeline.Input{{Slices: []pipeline.Slice{{Tensor: name, Size: 2}}}},
			Outputs:   []pipeline.Output{{Name: name, Offset: int64(len(header) + 2*i), Size: 2}},
			Transform: fn,
		})
	}
	return src, &fakeSink{sizes: []int64{int64(len(header) + 2*n)}}, jobs
}

// TestRunCancel cancels the context while every worker is inside a
// Transform: Run returns context.Canceled promptly, starts no more
// units, aborts the sink and leaves no goroutine behind.
func TestRunCancel(t *testing.T) {
	for _, workers := range []int{1, 2, 8} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const n = 500
			var calls atomic.Int64
			busy := make(chan struct{})    // every worker is in a Transform
			release := make(chan struct{}) // cancel has returned
			src, sink, jobs := manyJobs(n, func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
				if calls.Add(1) == int64(workers) {
					close(busy)
				}
				// Wait for release, not ctx.Done: ctx's channel closes
				// before cancel has reached the contexts derived from it.
				select {
				case <-release:
				case <-time.After(10 * time.Second):
				}
				return [][]byte{ins[0]}, nil
			})
			go func() {
				<-busy
				cancel()
				close(release)
			}()
			start := time.Now()
			err := pipeline.Run(ctx, src, sink, jobs, pipeline.Options{Workers: workers})
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Run took %v after cancellation", took)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			// A worker may have passed its cancellation check just before
			// cancel; none starts a unit after that.
			if c := calls.Load(); c > int64(2*workers) {
				t.Errorf("%d Transform calls after cancelling with %d workers (of %d jobs)", c, workers, n)
			}
			if sink.commits != 0 || sink.aborts != 1 {
				t.Errorf("Commit/Abort calls = %d/%d, want 0/1", sink.commits, sink.aborts)
			}
			checkGoroutines(t, before)
		})
	}
}

// TestRunCanceledBefore: a context done before Run writes nothing and
// commits nothing.
func TestRunCanceledBefore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src, sink, jobs := manyJobs(50, func(u pipeline.Unit, ins [][]byte) ([][]byte, error) { return [][]byte{ins[0]}, nil })
	err := pipeline.Run(ctx, src, sink, jobs, pipeline.Options{Workers: 4})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if sink.commits != 0 || sink.aborts != 1 {
		t.Errorf("Commit/Abort calls = %d/%d, want 0/1", sink.commits, sink.aborts)
	}
}

// TestRunErrorStopsWorkers: the first failing job stops the run; the
// other workers start few further units and none is left running.
func TestRunErrorStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	const n = 2000
	var calls atomic.Int64
	src, sink, jobs := manyJobs(n, func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
		if calls.Add(1) == 10 {
			return nil, errBoom
		}
		time.Sleep(100 * time.Microsecond)
		return [][]byte{ins[0]}, nil
	})
	err := pipeline.Run(context.Background(), src, sink, jobs, pipeline.Options{Workers: 4})
	if !errors.Is(err, errBoom) {
		t.Fatalf("error %v, want %v", err, errBoom)
	}
	// Workers stop soon after the failure: a few calls each may already be
	// under way (more under qemu, where the failing call's return is slow
	// to reach the others), never most of the 2000.
	if c := calls.Load(); c > 10+8*4 {
		t.Errorf("%d Transform calls after the 10th failed (4 workers, %d jobs)", c, n)
	}
	if sink.commits != 0 || sink.aborts != 1 {
		t.Errorf("Commit/Abort calls = %d/%d, want 0/1", sink.commits, sink.aborts)
	}
	checkGoroutines(t, before)
}

// checkGoroutines waits up to a second for the goroutine count to fall
// back to before (plus a little slack for the runtime's own).
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	const slack = 2
	deadline := time.Now().Add(5 * time.Second) // (qemu-user is slow to reap)
	for {
		now := runtime.NumGoroutine()
		if now <= before+slack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines after Run, %d before:\n%s", now, before, buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunProgress: one StageWrite event with the totals before any job
// is done, one per finished job (all its outputs counted), one StageDone
// after Commit; never two callbacks at once.
func TestRunProgress(t *testing.T) {
	for _, workers := range []int{1, 2, 8} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			sc := newScenario()
			sink := sc.sink()
			var wantBytes int64
			var wantTensors int
			lastOutput := map[string]bool{} // a finished job's event names its last output
			for _, j := range sc.jobs {
				for _, o := range j.Outputs {
					wantBytes += o.Size
					wantTensors++
				}
				lastOutput[j.Outputs[len(j.Outputs)-1].Name] = true
			}
			var inside atomic.Int32
			var events []pipeline.Progress
			err := pipeline.Run(context.Background(), sc.src, sink, sc.jobs, pipeline.Options{
				Workers: workers, UnitBytes: 4,
				Progress: func(p pipeline.Progress) {
					if inside.Add(1) != 1 {
						t.Error("Progress called concurrently")
					}
					if p.Stage == pipeline.StageDone && sink.commits != 1 {
						t.Error("StageDone before Commit")
					}
					events = append(events, p)
					time.Sleep(time.Millisecond)
					inside.Add(-1)
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(events), 1+len(sc.jobs)+1; got != want {
				t.Fatalf("%d events, want %d (start, one per job, done): %+v", got, want, events)
			}
			for i, e := range events {
				if e.TensorsTotal != wantTensors || e.BytesTotal != wantBytes {
					t.Errorf("event %d: totals %d tensors, %d bytes, want %d, %d", i, e.TensorsTotal, e.BytesTotal, wantTensors, wantBytes)
				}
				wantStage := pipeline.StageWrite
				if i == len(events)-1 {
					wantStage = pipeline.StageDone
				}
				if e.Stage != wantStage {
					t.Errorf("event %d: stage %v, want %v", i, e.Stage, wantStage)
				}
				if i == 0 {
					if e.TensorsDone != 0 || e.BytesDone != 0 {
						t.Errorf("first event: %+v, want nothing done", e)
					}
					continue
				}
				prev := events[i-1]
				if i < len(events)-1 {
					if e.TensorsDone <= prev.TensorsDone || e.BytesDone <= prev.BytesDone {
						t.Errorf("event %d: %+v does not advance on %+v", i, e, prev)
					}
					if !lastOutput[e.Tensor] {
						t.Errorf("event %d: tensor %q is not a job's last output", i, e.Tensor)
					}
					delete(lastOutput, e.Tensor)
				}
			}
			last := events[len(events)-1]
			if last.TensorsDone != wantTensors || last.BytesDone != wantBytes {
				t.Errorf("last event %+v, want %d tensors, %d bytes done", last, wantTensors, wantBytes)
			}
		})
	}
}
