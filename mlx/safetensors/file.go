package safetensors

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/mlxconv/mlxconv/internal/fsx"
)

// File is a safetensors file opened by Open. Section and ReadTensor read
// through the descriptor (pread); where the platform allows it (Linux,
// macOS) the file is also memory-mapped, and Bytes returns zero-copy slices
// of the mapping.
type File struct {
	*Reader
	f      *os.File
	guard  *guardReaderAt
	mem    []byte // the mapping, nil if not mapped
	closed bool
}

// Open opens and validates the safetensors file at path, memory-mapping it
// where supported (falling back to copies when mapping fails). Errors name
// the path. Only a regular file (or a symlink to one) is opened: a named
// pipe, socket, device or directory is refused at once, without blocking.
// Call Close to release the descriptor and the mapping.
func Open(path string) (*File, error) {
	f, err := fsx.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	file := &File{f: f, guard: &guardReaderAt{r: f}}
	rd, err := NewReader(file.guard, size, WithName(path))
	if err != nil {
		_ = file.release()
		return nil, err
	}
	if mem, err := mmapFile(f, size); err == nil && mem != nil {
		file.mem = mem
		rd.mem = mem
	}
	file.Reader = rd
	return file, nil
}

// Mapped reports whether the file is memory-mapped, that is whether Bytes
// returns zero-copy slices.
func (f *File) Mapped() bool { return f.mem != nil }

// Close releases the mapping and the descriptor. Slices returned by Bytes
// become invalid (touching them faults); Section readers and later calls
// return ErrClosed. Close must not run concurrently with other methods of f
// or with reads of its Section readers.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.Reader != nil {
		f.Reader.mem = nil
	}
	return f.release()
}

func (f *File) release() error {
	f.guard.closed.Store(true)
	var err error
	if f.mem != nil {
		err = munmap(f.mem)
		f.mem = nil
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("safetensors: close: %w", err)
	}
	return nil
}

// guardReaderAt returns ErrClosed once its File is closed.
type guardReaderAt struct {
	r      io.ReaderAt
	closed atomic.Bool
}

func (g *guardReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if g.closed.Load() {
		return 0, ErrClosed
	}
	return g.r.ReadAt(p, off)
}
