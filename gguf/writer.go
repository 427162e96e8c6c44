package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// Plan is the complete layout of one GGUF file, computed before any byte is
// written: metadata in the caller's order, tensor infos in the caller's order
// with dense aligned offsets, the data section start and the total size.
// A Plan is immutable once made and may be used from several goroutines.
type Plan struct {
	// KVs is the metadata in write order.
	KVs []KV
	// Tensors is the tensor infos in write order, with Offset and Size set.
	Tensors []TensorInfo
	// Alignment is the data alignment (general.alignment or 32).
	Alignment uint64
	// HeaderSize is the size of header, metadata and tensor infos.
	HeaderSize int64
	// DataOffset is the absolute offset of the data section: HeaderSize
	// aligned up, or HeaderSize itself when there are no tensors (then
	// nothing follows the tensor infos, as in convert_hf_to_gguf.py
	// --vocab-only output).
	DataOffset int64
	// FileSize is the total size of the file, including the padding after
	// the last tensor.
	FileSize int64
}

// NewPlan validates kvs and tensors and lays them out. Only the Name, Type and
// Shape of each tensor are used; Offset and Size are computed. The inputs are
// copied, not modified. The alignment is taken from a general.alignment KV
// (which must be UINT32, a power of two and at least 8) or defaults to 32.
//
// Validation follows what llama.cpp's loader enforces: non-empty unique keys,
// no nested arrays, string and array limits; non-empty unique tensor names of
// at most maxNameLen bytes, at most maxDims dimensions, Shape[0] a multiple of
// the block size, sizes that fit int64. Errors wrap ErrInvalid and name the KV
// or tensor.
func NewPlan(kvs []KV, tensors []TensorInfo) (*Plan, error) {
	p := &Plan{
		KVs:       slices.Clone(kvs),
		Tensors:   make([]TensorInfo, len(tensors)),
		Alignment: defaultAlignment,
	}
	kvBytes, err := p.planKVs(kvs)
	if err != nil {
		return nil, err
	}
	infoBytes, data, err := p.planTensors(tensors)
	if err != nil {
		return nil, err
	}
	header := uint64(4+4+8+8) + kvBytes + infoBytes
	if header > math.MaxInt64 {
		return nil, fmt.Errorf("%w: header of %d bytes is too large", ErrInvalid, header)
	}
	p.HeaderSize = int64(header)
	p.DataOffset = p.HeaderSize
	p.FileSize = p.HeaderSize
	if len(tensors) > 0 {
		start, err := alignUp(header, p.Alignment)
		if err != nil || start > math.MaxInt64-data {
			return nil, fmt.Errorf("%w: file size overflows", ErrInvalid)
		}
		p.DataOffset = int64(start)
		p.FileSize = int64(start + data)
	}
	return p, nil
}

// planKVs validates kvs, sets p.Alignment from general.alignment, and
// returns the size of their encoding.
func (p *Plan) planKVs(kvs []KV) (size uint64, err error) {
	seen := make(map[string]int, len(kvs))
	for i, kv := range kvs {
		if kv.Key == "" {
			return 0, fmt.Errorf("%w: kv %d: empty key", ErrInvalid, i)
		}
		if len(kv.Key) > maxStringLen {
			return 0, fmt.Errorf("%w: kv %d: key of %d bytes exceeds %d", ErrInvalid, i, len(kv.Key), maxStringLen)
		}
		if j, dup := seen[kv.Key]; dup {
			return 0, fmt.Errorf("%w: kv %d %q: duplicate key (first at kv %d)", ErrInvalid, i, kv.Key, j)
		}
		seen[kv.Key] = i
		if err := kv.Value.check(); err != nil {
			return 0, fmt.Errorf("kv %d %q: %w", i, kv.Key, err)
		}
		if kv.Key == keyAlignment {
			if err := p.setAlignment(i, kv); err != nil {
				return 0, err
			}
		}
		size += 8 + uint64(len(kv.Key)) + kv.Value.encodedSize(true)
	}
	return size, nil
}

// setAlignment sets p.Alignment from kv i, general.alignment, which must be
// a UINT32 power of two >= 8.
func (p *Plan) setAlignment(i int, kv KV) error {
	a, ok := kv.Value.v.(uint32)
	if !ok {
		return fmt.Errorf("%w: kv %d %q: type %s, must be UINT32", ErrInvalid, i, kv.Key, kv.Value.typeName())
	}
	if !validWriteAlignment(a) {
		return fmt.Errorf("%w: kv %d %q: alignment %d is not a power of two >= 8", ErrInvalid, i, kv.Key, a)
	}
	p.Alignment = uint64(a)
	return nil
}

// planTensors validates tensors and lays out their data densely at
// p.Alignment into p.Tensors; it returns the size of the tensor infos'
// encoding and of the data section.
func (p *Plan) planTensors(tensors []TensorInfo) (infoSize, data uint64, err error) {
	names := make(map[string]int, len(tensors))
	for i, t := range tensors {
		if t.Name == "" {
			return 0, 0, fmt.Errorf("%w: tensor %d: empty name", ErrInvalid, i)
		}
		if len(t.Name) > maxNameLen {
			return 0, 0, fmt.Errorf("%w: tensor %d %q: name of %d bytes exceeds %d", ErrInvalid, i, t.Name, len(t.Name), maxNameLen)
		}
		if j, dup := names[t.Name]; dup {
			return 0, 0, fmt.Errorf("%w: tensor %d %q: duplicate name (first at tensor %d)", ErrInvalid, i, t.Name, j)
		}
		names[t.Name] = i
		size, err := tensorSize(t.Type, t.Shape)
		if err != nil {
			return 0, 0, fmt.Errorf("tensor %d %q: %w", i, t.Name, err)
		}
		padded, err := alignUp(size, p.Alignment)
		if err != nil || data > math.MaxInt64-padded {
			return 0, 0, fmt.Errorf("%w: tensor %d %q: data section size overflows", ErrInvalid, i, t.Name)
		}
		p.Tensors[i] = TensorInfo{Name: t.Name, Type: t.Type, Shape: slices.Clone(t.Shape), Offset: data, Size: size}
		data += padded
		infoSize += 8 + uint64(len(t.Name)) + 4 + 8*uint64(len(t.Shape)) + 4 + 8
	}
	return infoSize, data, nil
}

// AppendHeader appends the header bytes to b: magic, version, counts, the
// metadata, the tensor infos and the zero padding up to DataOffset.
func (p *Plan) AppendHeader(b []byte) []byte {
	b = append(b, fileMagic...)
	b = le.AppendUint32(b, formatVersion)
	b = le.AppendUint64(b, uint64(len(p.Tensors)))
	b = le.AppendUint64(b, uint64(len(p.KVs)))
	for _, kv := range p.KVs {
		b = appendString(b, kv.Key)
		b = appendValue(b, kv.Value, true)
	}
	for _, t := range p.Tensors {
		b = appendString(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Shape)))
		for _, d := range t.Shape {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, t.Offset)
	}
	for i := p.HeaderSize; i < p.DataOffset; i++ {
		b = append(b, 0)
	}
	return b
}

// tensorEnd returns the absolute offset after tensor i's padding.
func (p *Plan) tensorEnd(i int) int64 {
	if i+1 < len(p.Tensors) {
		return p.DataOffset + int64(p.Tensors[i+1].Offset)
	}
	return p.FileSize
}

var zeros [256]byte

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		m := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// Writer streams a planned GGUF file to an io.Writer: the header first, then
// each tensor's data in plan order. It buffers its output; Close flushes it.
// Close does not close the underlying writer.
type Writer struct {
	p    *Plan
	cw   *countWriter
	bw   *bufio.Writer
	next int // index of the next tensor to create
	cur  *tensorSink
	err  error // sticky
}

// NewWriter writes p's header to w and returns a Writer for the tensor data.
func NewWriter(w io.Writer, p *Plan) (*Writer, error) {
	cw := &countWriter{w: w}
	wr := &Writer{p: p, cw: cw, bw: bufio.NewWriterSize(cw, 1<<20)}
	if _, err := wr.bw.Write(p.AppendHeader(nil)); err != nil {
		return nil, fmt.Errorf("gguf: write header: %w", err)
	}
	return wr, nil
}

// Create starts the data of the tensor called name, which must be the next
// tensor in plan order. The returned writer accepts exactly the tensor's Size
// bytes and is valid until the next Create or Close.
func (w *Writer) Create(name string) (io.Writer, error) {
	if w.err != nil {
		return nil, w.err
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	if w.next >= len(w.p.Tensors) {
		return nil, fmt.Errorf("%w: tensor %q: all %d planned tensors already written", ErrInvalid, name, len(w.p.Tensors))
	}
	t := w.p.Tensors[w.next]
	if t.Name != name {
		return nil, fmt.Errorf("%w: tensor %q created, but the plan's tensor %d is %q", ErrInvalid, name, w.next, t.Name)
	}
	w.cur = &tensorSink{w: w.bw, name: t.Name, left: t.Size}
	w.next++
	return w.cur, nil
}

// WriteTensor writes the data of the tensor called name (the next in plan
// order) from data, which must hold exactly its Size bytes.
func (w *Writer) WriteTensor(name string, data []byte) error {
	dst, err := w.Create(name)
	if err != nil {
		return err
	}
	_, err = dst.Write(data)
	return err
}

// finish closes the current tensor: it must be complete; then its padding is
// written.
func (w *Writer) finish() error {
	if w.cur == nil {
		return nil
	}
	c := w.cur
	w.cur = nil
	if c.err != nil {
		w.err = c.err
		return w.err
	}
	if c.left != 0 {
		w.err = fmt.Errorf("%w: tensor %q: %d bytes short", ErrInvalid, c.name, c.left)
		return w.err
	}
	i := w.next - 1
	t := w.p.Tensors[i]
	pad := w.p.tensorEnd(i) - (w.p.DataOffset + int64(t.Offset) + int64(t.Size))
	if err := writeZeros(w.bw, pad); err != nil {
		w.err = fmt.Errorf("gguf: tensor %q: write padding: %w", t.Name, err)
	}
	return w.err
}

// Close completes the file: it checks that every planned tensor was written
// in full, writes the last padding and flushes. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.finish(); err != nil {
		return err
	}
	if w.next != len(w.p.Tensors) {
		w.err = fmt.Errorf("%w: %d of %d planned tensors written (next: %q)", ErrInvalid,
			w.next, len(w.p.Tensors), w.p.Tensors[w.next].Name)
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("gguf: flush: %w", err)
		return w.err
	}
	if w.cw.n != w.p.FileSize {
		w.err = fmt.Errorf("gguf: internal error: wrote %d bytes, planned %d", w.cw.n, w.p.FileSize)
		return w.err
	}
	w.err = errors.New("gguf: writer closed")
	return nil
}

// countWriter counts the bytes that reach the underlying writer.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// tensorSink accepts exactly left bytes for one tensor.
type tensorSink struct {
	w    io.Writer
	name string
	left uint64
	err  error
}

func (s *tensorSink) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if uint64(len(b)) > s.left {
		s.err = fmt.Errorf("%w: tensor %q: %d bytes written past its planned size", ErrInvalid, s.name, uint64(len(b))-s.left)
		return 0, s.err
	}
	n, err := s.w.Write(b)
	s.left -= uint64(n)
	if err != nil {
		s.err = fmt.Errorf("gguf: tensor %q: %w", s.name, err)
	}
	return n, s.err
}

// WriteParallel writes the file planned by p to dst at the planned offsets:
// the header, then the tensors, with up to workers tensors in flight at once
// (workers < 1 means 1). fill is called once per tensor, from several
// goroutines, with the tensor's index, its info and a buffered writer that
// accepts exactly t.Size bytes; WriteParallel checks the count and writes the
// padding itself. The first error stops handing out tensors and is returned
// after the running calls end. dst must support concurrent WriteAt calls at
// disjoint offsets (an *os.File does).
func WriteParallel(dst io.WriterAt, p *Plan, workers int, fill func(i int, t TensorInfo, w io.Writer) error) error {
	if _, err := dst.WriteAt(p.AppendHeader(nil), 0); err != nil {
		return fmt.Errorf("gguf: write header: %w", err)
	}
	workers = max(1, min(workers, len(p.Tensors)))
	var (
		mu       sync.Mutex
		next     int
		firstErr error
		wg       sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(p.Tensors) {
			return 0, false
		}
		next++
		return next - 1, true
	}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for range workers {
		wg.Go(func() {
			for {
				i, ok := take()
				if !ok {
					return
				}
				if err := p.writeTensorAt(dst, i, fill); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

func (p *Plan) writeTensorAt(dst io.WriterAt, i int, fill func(int, TensorInfo, io.Writer) error) error {
	t := p.Tensors[i]
	start := p.DataOffset + int64(t.Offset)
	ow := io.NewOffsetWriter(dst, start)
	bw := bufio.NewWriterSize(ow, 1<<20)
	sink := &tensorSink{w: bw, name: t.Name, left: t.Size}
	if err := fill(i, t, sink); err != nil {
		return fmt.Errorf("tensor %d %q: %w", i, t.Name, err)
	}
	if sink.err != nil {
		return sink.err
	}
	if sink.left != 0 {
		return fmt.Errorf("%w: tensor %q: %d bytes short", ErrInvalid, t.Name, sink.left)
	}
	if err := writeZeros(bw, p.tensorEnd(i)-(start+int64(t.Size))); err != nil {
		return fmt.Errorf("gguf: tensor %q: write padding: %w", t.Name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
	}
	return nil
}
