package safetensors

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// File is a safetensors file opened by Open. Its Reader methods read the
// memory mapping where the platform allows it (Linux, macOS) and the
// os.File otherwise.
type File struct {
	*Reader
	f      *os.File // nil when memory-mapped (the descriptor is closed after mapping)
	mm     *mmapReader
	closed bool
}

// Open opens and validates the safetensors file at path, memory-mapping it
// where supported (falling back to plain reads when mapping fails). Errors
// name the path. Call Close to release the mapping or the descriptor.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	file := &File{}
	var r io.ReaderAt = f
	if st.Mode().IsRegular() {
		if data, err := mmapFile(f, size); err == nil && data != nil {
			file.mm = &mmapReader{data: data}
			r = file.mm
			f.Close()
			f = nil
		}
	}
	file.f = f
	rd, err := NewReader(r, size, WithName(path))
	if err != nil {
		file.release()
		return nil, err
	}
	if file.mm != nil {
		rd.mem = file.mm.data
	}
	file.Reader = rd
	return file, nil
}

// Mapped reports whether the file is memory-mapped, that is whether Bytes
// returns zero-copy slices.
func (f *File) Mapped() bool { return f.mm != nil }

// Close unmaps or closes the file. Slices returned by Bytes become invalid
// (touching them faults); Section readers and later calls return ErrClosed.
// Close must not run concurrently with other methods of f.
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
	var err error
	if f.mm != nil {
		f.mm.closed.Store(true)
		err = munmap(f.mm.data)
		f.mm.data = nil
	}
	if f.f != nil {
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
		f.f = nil
	}
	if err != nil {
		return fmt.Errorf("safetensors: close: %w", err)
	}
	return nil
}

// mmapReader is an io.ReaderAt over a mapping that refuses reads once the
// mapping is gone, instead of faulting.
type mmapReader struct {
	data   []byte
	closed atomic.Bool
}

func (m *mmapReader) ReadAt(p []byte, off int64) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("safetensors: negative offset %d", off)
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
