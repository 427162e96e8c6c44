package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/mlxconv/mlxconv/pipeline"
)

// tensors is a Source over tensors held in memory, by name.
type tensors map[string][]byte

func (ts tensors) ReadSlice(s pipeline.Slice, p []byte, off int64) error {
	copy(p, ts[s.Tensor][off:])
	return nil
}

func (ts tensors) Advise(pipeline.Slice, int64, int64) {}

// buffers is a Sink writing into in-memory files. A real sink creates
// temporary files in Open and renames them into place in Commit.
type buffers struct {
	files [][]byte
	done  bool
}

func (b *buffers) Open() error {
	b.files = [][]byte{[]byte("HEAD........")} // a 4-byte header, room for 8 bytes
	return nil
}

func (b *buffers) WriteAt(file int, p []byte, off int64) error {
	copy(b.files[file][off:], p)
	return nil
}

func (b *buffers) FileName(file int) string { return fmt.Sprintf("buffer %d", file) }
func (b *buffers) Commit() error            { b.done = true; return nil }
func (b *buffers) Abort()                   { b.files = nil }

// ExampleRun upper-cases a 2-row tensor, one row per unit, into the bytes
// after a file's header.
func ExampleRun() {
	src := tensors{"greeting": []byte("helloyou")}
	job := pipeline.Job{
		Name: "upper",
		Inputs: []pipeline.Input{{
			Slices:   []pipeline.Slice{{Tensor: "greeting", Size: 8}},
			RowBytes: 4, // read 4 bytes a row...
		}},
		// ...write 4 bytes a row, 2 rows: "HELL" then "OYOU" after the header.
		Outputs:     []pipeline.Output{{Name: "GREETING", File: 0, Offset: 4, Size: 8}},
		RowsPerPart: 2,
		Transform: func(u pipeline.Unit, ins [][]byte) ([][]byte, error) {
			return [][]byte{bytes.ToUpper(ins[0])}, nil
		},
	}
	sink := &buffers{}
	err := pipeline.Run(context.Background(), src, sink, []pipeline.Job{job}, pipeline.Options{
		Workers:   2,
		UnitBytes: 4, // one row per unit
		Progress: func(p pipeline.Progress) {
			if p.Stage == pipeline.StageDone {
				fmt.Printf("done: %d tensor(s), %d of %d bytes\n", p.TensorsDone, p.BytesDone, p.BytesTotal)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s committed=%v\n", sink.files[0], sink.done)
	// Output:
	// done: 1 tensor(s), 8 of 8 bytes
	// HEADHELLOYOU committed=true
}
