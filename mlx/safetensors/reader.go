package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/mlxconv/mlxconv/mlx"
)

// TensorInfo describes one tensor of a file: its name, dtype, shape and the
// byte range [Begin, End) of its body, relative to the start of the data
// section (the header's "data_offsets").
type TensorInfo struct {
	Name  string
	DType mlx.DType
	Shape []int // elements per dimension; empty for a scalar
	Begin int64 // first byte, relative to the data section
	End   int64 // one past the last byte, relative to the data section
}

// Size returns the body's length in bytes (End - Begin).
func (t TensorInfo) Size() int64 { return t.End - t.Begin }

// NumElements returns the product of the shape (1 for a scalar). For a
// TensorInfo from a Reader it cannot overflow.
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

func (t TensorInfo) clone() TensorInfo {
	t.Shape = slices.Clone(t.Shape)
	return t
}

// Option configures NewReader.
type Option func(*Reader)

// WithName sets the name errors use for the file (Open uses the path).
func WithName(name string) Option { return func(r *Reader) { r.name = name } }

// Reader gives lazy access to the tensors of one safetensors file. It reads
// and validates the header at construction and nothing else; tensor bodies
// are read on demand through the io.ReaderAt.
//
// A Reader is safe for concurrent use if its io.ReaderAt is (an os.File,
// and so a File from Open, is).
type Reader struct {
	r          io.ReaderAt
	size       int64
	name       string
	headerLen  int64
	dataOffset int64
	tensors    []TensorInfo // by Begin, then End, then Name
	index      map[string]int
	meta       map[string]string
	mem        []byte // the whole file when memory-mapped, else nil
}

// NewReader reads and validates the header of the safetensors file of size
// bytes read through r. Every rule of the format is checked (see the package
// documentation); a violation is a *FormatError wrapping ErrFormat. I/O
// errors are returned wrapped as they are.
func NewReader(r io.ReaderAt, size int64, opts ...Option) (*Reader, error) {
	rd := &Reader{r: r, size: size, name: "safetensors file"}
	for _, o := range opts {
		o(rd)
	}
	if err := rd.init(); err != nil {
		return nil, err
	}
	return rd, nil
}

func (rd *Reader) ferr(tensor, format string, args ...any) error {
	return &FormatError{File: rd.name, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
}

func (rd *Reader) init() error {
	if rd.size < 8 {
		return rd.ferr("", "file is %d bytes, too short for the 8-byte header length", rd.size)
	}
	var lb [8]byte
	if err := readFullAt(rd.r, lb[:], 0); err != nil {
		return fmt.Errorf("safetensors: %s: read header length: %w", rd.name, err)
	}
	n := binary.LittleEndian.Uint64(lb[:])
	if n > MaxHeaderSize {
		return rd.ferr("", "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(rd.size-8) {
		return rd.ferr("", "header length %d exceeds the %d bytes after the length field", n, rd.size-8)
	}
	hdr := make([]byte, n)
	if err := readFullAt(rd.r, hdr, 8); err != nil {
		return fmt.Errorf("safetensors: %s: read header: %w", rd.name, err)
	}
	if !utf8.Valid(hdr) {
		return rd.ferr("", "header is not valid UTF-8")
	}
	h, err := parseHeader(rd.name, hdr)
	if err != nil {
		return err
	}
	rd.headerLen = int64(n)
	rd.dataOffset = 8 + int64(n)
	if rd.tensors, err = validate(rd.name, h, rd.size-rd.dataOffset); err != nil {
		return err
	}
	rd.meta = h.meta
	rd.index = make(map[string]int, len(rd.tensors))
	for i, t := range rd.tensors {
		rd.index[t.Name] = i
	}
	return nil
}

// readFullAt fills p from r at off. A short read is io.ErrUnexpectedEOF.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Name returns the name errors use for the file.
func (rd *Reader) Name() string { return rd.name }

// Size returns the file size given to NewReader.
func (rd *Reader) Size() int64 { return rd.size }

// HeaderLen returns the length of the JSON header in bytes, padding included
// (the value of the file's first 8 bytes).
func (rd *Reader) HeaderLen() int64 { return rd.headerLen }

// DataOffset returns the file offset of the data section (8 + HeaderLen).
// A tensor's body starts at DataOffset() + Begin.
func (rd *Reader) DataOffset() int64 { return rd.dataOffset }

// Len returns the number of tensors.
func (rd *Reader) Len() int { return len(rd.tensors) }

// Tensors returns every tensor's info, ordered by data offset (ties, which
// only zero-size tensors can produce, by name). The slice and the shapes are
// copies the caller may keep and modify.
func (rd *Reader) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(rd.tensors))
	for i, t := range rd.tensors {
		out[i] = t.clone()
	}
	return out
}

// Tensor returns the info of the named tensor.
func (rd *Reader) Tensor(name string) (TensorInfo, bool) {
	i, ok := rd.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return rd.tensors[i].clone(), true
}

// Metadata returns a copy of the header's "__metadata__" map: nil when the
// key is absent or null, empty (non-nil) when it is {}.
func (rd *Reader) Metadata() map[string]string {
	if rd.meta == nil {
		return nil
	}
	return maps.Clone(rd.meta)
}

func (rd *Reader) lookup(name string) (TensorInfo, error) {
	i, ok := rd.index[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("%s: tensor %s: %w", rd.name, quoteName(name), ErrNotFound)
	}
	return rd.tensors[i], nil
}

// Section returns a reader over the named tensor's body (Size() bytes, at
// file offset DataOffset()+Begin). It is independent of other sections and
// safe to use concurrently with them.
func (rd *Reader) Section(name string) (*io.SectionReader, error) {
	t, err := rd.lookup(name)
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(rd.r, rd.dataOffset+t.Begin, t.Size()), nil
}

// ReadTensor reads the named tensor's body into dst[:Size()], reusing dst's
// storage when its capacity suffices and allocating otherwise, and returns
// the filled slice (non-nil, even for an empty body). The result never
// aliases the file's memory mapping.
func (rd *Reader) ReadTensor(name string, dst []byte) ([]byte, error) {
	t, err := rd.lookup(name)
	if err != nil {
		return nil, err
	}
	n := t.Size() // validated: <= file size
	if n > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s: tensor %s: %d bytes do not fit in memory on this platform",
			rd.name, quoteName(name), n)
	}
	if dst != nil && int64(cap(dst)) >= n {
		dst = dst[:n]
	} else {
		dst = make([]byte, n)
	}
	if err := readFullAt(rd.r, dst, rd.dataOffset+t.Begin); err != nil {
		return nil, fmt.Errorf("safetensors: %s: tensor %s: read: %w", rd.name, quoteName(name), err)
	}
	return dst, nil
}

// Bytes returns the named tensor's body. For a memory-mapped File it is a
// zero-copy slice of the mapping: read-only (writing to it faults), and
// valid only until the File is closed. Otherwise it is a fresh copy, as
// ReadTensor(name, nil) returns.
func (rd *Reader) Bytes(name string) ([]byte, error) {
	if rd.mem == nil {
		return rd.ReadTensor(name, nil)
	}
	t, err := rd.lookup(name)
	if err != nil {
		return nil, err
	}
	off := rd.dataOffset + t.Begin
	return rd.mem[off : off+t.Size() : off+t.Size()], nil
}
