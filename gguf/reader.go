package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/mlxconv/mlxconv/internal/fsx"
)

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	// Name is the tensor name, at most maxNameLen bytes.
	Name string
	// Type is the ggml type of the data.
	Type Type
	// Shape is the ggml shape ne[0..n): Shape[0] is the innermost
	// (contiguous) dimension, the reverse of the numpy/PyTorch shape. At most
	// maxDims entries; an empty shape is a scalar.
	Shape []uint64
	// Offset is the start of the data relative to the data section. The
	// writer's planner fills it in; the reader reports what the file says.
	Offset uint64
	// Size is the number of data bytes, without padding. The planner computes
	// it from Type and Shape.
	Size uint64
}

// NumElements returns the number of elements (the product of Shape).
func (t TensorInfo) NumElements() uint64 {
	n, err := numElements(t.Shape)
	if err != nil {
		return 0
	}
	return n
}

// File is a parsed GGUF header: metadata, tensor infos and the location of
// the tensor data. It reads tensor data lazily through Section; it never
// holds the data in memory. A File is safe for concurrent use once returned
// if the underlying io.ReaderAt is.
type File struct {
	// Version is the GGUF version of the file (2 or 3).
	Version uint32
	// Alignment is the data alignment: general.alignment or defaultAlignment.
	Alignment uint64
	// HeaderSize is the number of bytes of header, metadata and tensor infos,
	// before the padding that precedes the data section.
	HeaderSize int64
	// DataOffset is the absolute file offset of the data section. As in
	// llama.cpp it is HeaderSize aligned up when the file has tensors, and
	// HeaderSize when it has none.
	DataOffset int64
	// Tensors holds the tensor infos in file order.
	Tensors []TensorInfo

	kvs     []KV
	kvIndex map[string]int
	tIndex  map[string]int
	r       io.ReaderAt
	size    int64
	closer  io.Closer
}

// Size returns the size of the underlying file.
func (f *File) Size() int64 { return f.size }

// KVs returns the metadata in file order. The slice belongs to f; do not
// modify it.
func (f *File) KVs() []KV { return f.kvs }

// Lookup returns the value of key.
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.kvs[i].Value, true
}

// Get returns the value of key as Go type T, which must match the stored GGUF
// type exactly (see As). A missing key is an error wrapping ErrNotFound, a
// different type one wrapping ErrType.
func Get[T Data](f *File, key string) (T, error) {
	v, ok := f.Lookup(key)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	x, err := As[T](v)
	if err != nil {
		return x, fmt.Errorf("key %q: %w", key, err)
	}
	return x, nil
}

// Tensor returns the info of the tensor called name.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// Section returns a reader of exactly the data bytes of the tensor called
// name (without padding).
func (f *File) Section(name string) (*io.SectionReader, error) {
	i, ok := f.tIndex[name]
	if !ok {
		return nil, fmt.Errorf("%w: tensor %q", ErrNotFound, name)
	}
	t := f.Tensors[i]
	// NewReader checked DataOffset+Offset+Size <= size.
	return io.NewSectionReader(f.r, f.DataOffset+int64(t.Offset), int64(t.Size)), nil
}

// Close closes the file opened by Open. For a File from NewReader it does
// nothing.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Open opens and parses the GGUF file at path. Close the returned File.
// Only a regular file (or a symlink to one) is opened: a named pipe,
// socket, device or directory is refused at once (the error matches
// fsx's ErrNotRegular and names path), without blocking.
func Open(path string) (*File, error) {
	fh, err := fsx.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		_ = fh.Close()
		return nil, err
	}
	f, err := NewReader(fh, st.Size())
	if err != nil {
		_ = fh.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.closer = fh
	return f, nil
}

// Smallest encodings, used to bound counts by the bytes left in the file
// before allocating anything sized by them.
const (
	minKVSize         = 8 + 1 + 4 + 1 // key length, 1-byte key, type, 1-byte value
	minTensorInfoSize = 8 + 4 + 4 + 8 // empty name, n_dims 0, type, offset
	readBufferSize    = 64 << 10
)

// NewReader parses the GGUF header read from r, which holds size bytes. It
// treats every count, length and offset as hostile and checks what llama.cpp's
// gguf.cpp checks (see doc.go), so a File it returns describes a file
// llama.cpp's GGUF reader also accepts. Errors wrap ErrFormat.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrInvalid, size)
	}
	d := &decoder{
		br:   bufio.NewReaderSize(io.NewSectionReader(r, 0, size), readBufferSize),
		size: uint64(size),
	}
	f := &File{r: r, size: size}
	if err := f.parse(d); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) parse(d *decoder) error {
	version, err := d.preamble()
	if err != nil {
		return err
	}
	f.Version = version
	nTensors, nKV, err := d.counts()
	if err != nil {
		return err
	}
	if err := f.parseKVs(d, nKV); err != nil {
		return err
	}
	if err := f.setAlignment(); err != nil {
		return err
	}
	if err := f.parseTensorInfos(d, nTensors); err != nil {
		return err
	}
	f.HeaderSize = int64(d.off)
	f.DataOffset = f.HeaderSize
	if len(f.Tensors) == 0 {
		return nil
	}
	return f.checkData(d)
}

// preamble reads the magic and returns the version, which must be 2 or 3.
func (d *decoder) preamble() (uint32, error) {
	magic, err := d.bytes(4)
	if err != nil {
		return 0, fmt.Errorf("%w: magic: %v", ErrFormat, err)
	}
	if string(magic) != fileMagic {
		return 0, fmt.Errorf("%w: bad magic %q, want %q", ErrFormat, magic, fileMagic)
	}
	version, err := d.u32()
	if err != nil {
		return 0, fmt.Errorf("%w: version: %v", ErrFormat, err)
	}
	switch {
	case version == 2 || version == 3:
		return version, nil
	case version == 0:
		return 0, fmt.Errorf("%w: version 0", ErrFormat)
	case version&0xFFFF == 0:
		return 0, fmt.Errorf("%w: version %#x: byte-swapped (big-endian) files are not supported", ErrFormat, version)
	case version == 1:
		return 0, fmt.Errorf("%w: version 1 (32-bit counts) is not supported", ErrFormat)
	}
	return 0, fmt.Errorf("%w: version %d not supported (2 and 3 are)", ErrFormat, version)
}

// counts reads the tensor and key-value counts, each bounded by what the
// rest of the file can hold.
func (d *decoder) counts() (nTensors, nKV uint64, err error) {
	nTensors, err = d.u64()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: tensor count: %v", ErrFormat, err)
	}
	nKV, err = d.u64()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: kv count: %v", ErrFormat, err)
	}
	if nKV > d.remaining()/minKVSize {
		return 0, 0, fmt.Errorf("%w: kv count %d exceeds what %d remaining bytes can hold", ErrFormat, nKV, d.remaining())
	}
	if nTensors > d.remaining()/minTensorInfoSize {
		return 0, 0, fmt.Errorf("%w: tensor count %d exceeds what %d remaining bytes can hold",
			ErrFormat, nTensors, d.remaining())
	}
	return nTensors, nKV, nil
}

// parseKVs reads n key-value pairs with distinct keys.
func (f *File) parseKVs(d *decoder, n uint64) error {
	f.kvs = make([]KV, 0, n)
	f.kvIndex = make(map[string]int, n)
	for i := uint64(0); i < n; i++ {
		kv, err := d.kv()
		if err != nil {
			if kv.Key != "" {
				return fmt.Errorf("%w: kv %d %q: %v", ErrFormat, i, kv.Key, err)
			}
			return fmt.Errorf("%w: kv %d: %v", ErrFormat, i, err)
		}
		if j, dup := f.kvIndex[kv.Key]; dup {
			return fmt.Errorf("%w: kv %d %q: duplicate key (first at kv %d)", ErrFormat, i, kv.Key, j)
		}
		f.kvIndex[kv.Key] = len(f.kvs)
		f.kvs = append(f.kvs, kv)
	}
	return nil
}

// setAlignment sets f.Alignment from general.alignment, which must be a
// UINT32 power of two, or to defaultAlignment without it.
func (f *File) setAlignment() error {
	f.Alignment = defaultAlignment
	v, ok := f.Lookup(keyAlignment)
	if !ok {
		return nil
	}
	a, ok := v.v.(uint32)
	if !ok || v.typ != vtUint32 {
		return fmt.Errorf("%w: kv %d %q: type %s, must be UINT32", ErrFormat,
			f.kvIndex[keyAlignment], keyAlignment, v.typeName())
	}
	if !validReadAlignment(a) {
		return fmt.Errorf("%w: kv %d %q: alignment %d is not a non-zero power of two",
			ErrFormat, f.kvIndex[keyAlignment], keyAlignment, a)
	}
	f.Alignment = uint64(a)
	return nil
}

// parseTensorInfos reads n tensor infos with distinct names.
func (f *File) parseTensorInfos(d *decoder, n uint64) error {
	f.Tensors = make([]TensorInfo, 0, n)
	f.tIndex = make(map[string]int, n)
	for i := uint64(0); i < n; i++ {
		t, err := d.tensorInfo()
		if err != nil {
			if t.Name != "" {
				return fmt.Errorf("%w: tensor %d %q: %v", ErrFormat, i, t.Name, err)
			}
			return fmt.Errorf("%w: tensor %d: %v", ErrFormat, i, err)
		}
		if j, dup := f.tIndex[t.Name]; dup {
			return fmt.Errorf("%w: tensor %d %q: duplicate name (first at tensor %d)", ErrFormat, i, t.Name, j)
		}
		f.tIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

// checkData sets f.DataOffset, the aligned end of the header, and checks
// that the tensors' data lies inside the file, dense and in info order.
func (f *File) checkData(d *decoder) error {
	dataStart, err := alignUp(d.off, f.Alignment)
	if err != nil || dataStart > d.size {
		return fmt.Errorf("%w: data section at %d (aligned to %d) is past the end of the file (%d bytes)",
			ErrFormat, d.off+padding(d.off, f.Alignment), f.Alignment, d.size)
	}
	f.DataOffset = int64(dataStart)
	// llama.cpp requires the offsets to be dense and in info order: each
	// tensor starts where the previous one's padded data ends.
	var want uint64
	for i, t := range f.Tensors {
		if t.Offset != want {
			return fmt.Errorf("%w: tensor %d %q: offset %d, expected %d (offsets must be dense and in order)",
				ErrFormat, i, t.Name, t.Offset, want)
		}
		avail := d.size - dataStart // dataStart <= size was checked above
		if t.Offset > avail || t.Size > avail-t.Offset {
			return fmt.Errorf("%w: tensor %d %q: data at %d+%d (%d bytes) extends past the end of the file (%d bytes)",
				ErrFormat, i, t.Name, dataStart, t.Offset, t.Size, d.size)
		}
		padded, err := alignUp(t.Size, f.Alignment)
		if err != nil || want > math.MaxInt64-padded {
			return fmt.Errorf("%w: tensor %d %q: data section size overflows", ErrFormat, i, t.Name)
		}
		want += padded
	}
	return nil
}

// decoder reads the header sequentially and tracks the absolute offset.
type decoder struct {
	br      *bufio.Reader
	off     uint64
	size    uint64
	scratch []byte
}

var errTruncated = errors.New("unexpected end of file")

func (d *decoder) remaining() uint64 { return d.size - d.off }

// bytes returns the next n bytes in a scratch buffer valid until the next call.
// n must already be bounded by the caller (at most maxStringLen).
func (d *decoder) bytes(n uint64) ([]byte, error) {
	if n > d.remaining() {
		return nil, fmt.Errorf("%w: need %d bytes at offset %d, %d left", errTruncated, n, d.off, d.remaining())
	}
	if uint64(cap(d.scratch)) < n {
		d.scratch = make([]byte, n)
	}
	b := d.scratch[:n]
	if _, err := io.ReadFull(d.br, b); err != nil {
		return nil, fmt.Errorf("read at offset %d: %w", d.off, err)
	}
	d.off += n
	return b, nil
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.bytes(4)
	if err != nil {
		return 0, err
	}
	return le.Uint32(b), nil
}

func (d *decoder) u64() (uint64, error) {
	b, err := d.bytes(8)
	if err != nil {
		return 0, err
	}
	return le.Uint64(b), nil
}

func (d *decoder) stringLen(maxLen uint64) (uint64, error) {
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	if n > maxLen {
		return 0, fmt.Errorf("string length %d exceeds the limit %d", n, maxLen)
	}
	if n > d.remaining() {
		return 0, fmt.Errorf("%w: string length %d exceeds the %d remaining bytes", errTruncated, n, d.remaining())
	}
	return n, nil
}

func (d *decoder) str(maxLen uint64) (string, error) {
	n, err := d.stringLen(maxLen)
	if err != nil {
		return "", err
	}
	b, err := d.bytes(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (d *decoder) kv() (KV, error) {
	key, err := d.str(maxStringLen)
	if err != nil {
		return KV{}, fmt.Errorf("key: %w", err)
	}
	if key == "" {
		return KV{}, errors.New("empty key")
	}
	kv := KV{Key: key}
	t, err := d.u32()
	if err != nil {
		return kv, fmt.Errorf("value type: %w", err)
	}
	vt := valueType(t)
	if !vt.Valid() {
		return kv, fmt.Errorf("invalid value type %d", t)
	}
	if vt != vtArray {
		kv.Value, err = d.scalar(vt)
		return kv, err
	}
	et, err := d.u32()
	if err != nil {
		return kv, fmt.Errorf("array element type: %w", err)
	}
	elem := valueType(et)
	if !elem.Valid() || elem == vtArray {
		return kv, fmt.Errorf("invalid array element type %s (nested arrays are not supported)", elem)
	}
	n, err := d.u64()
	if err != nil {
		return kv, fmt.Errorf("array length: %w", err)
	}
	if n > MaxArrayLen {
		return kv, fmt.Errorf("array of %d elements exceeds the limit %d", n, MaxArrayLen)
	}
	if n > d.remaining()/valueTypeTraits[elem].minSize {
		return kv, fmt.Errorf("%w: array of %d %s elements exceeds the %d remaining bytes",
			errTruncated, n, elem, d.remaining())
	}
	kv.Value, err = d.array(elem, int(n))
	return kv, err
}

func (d *decoder) scalar(t valueType) (Value, error) {
	if t == vtString {
		s, err := d.str(maxStringLen)
		if err != nil {
			return Value{}, err
		}
		return NewValue(s), nil
	}
	b, err := d.bytes(t.Size())
	if err != nil {
		return Value{}, err
	}
	return decodeScalar(t, b), nil
}

func decodeScalar(t valueType, b []byte) Value {
	switch t {
	case vtUint8:
		return NewValue[uint8](b[0])
	case vtInt8:
		return NewValue(int8(b[0]))
	case vtUint16:
		return NewValue[uint16](le.Uint16(b))
	case vtInt16:
		return NewValue(int16(le.Uint16(b)))
	case vtUint32:
		return NewValue[uint32](le.Uint32(b))
	case vtInt32:
		return NewValue(int32(le.Uint32(b)))
	case vtFloat32:
		return NewValue[float32](math.Float32frombits(le.Uint32(b)))
	case vtBool:
		return NewValue(b[0] != 0)
	case vtUint64:
		return NewValue[uint64](le.Uint64(b))
	case vtInt64:
		return NewValue(int64(le.Uint64(b)))
	case vtFloat64:
		return NewValue[float64](math.Float64frombits(le.Uint64(b)))
	}
	return Value{}
}

// fixedArray reads n fixed-size elements, decoding them in chunks so the
// scratch buffer stays small.
func fixedArray[T any](d *decoder, n, size int, dec func([]byte) T) ([]T, error) {
	out := make([]T, n)
	const chunk = 16 << 10
	for i := 0; i < n; {
		m := min(n-i, chunk)
		b, err := d.bytes(uint64(m * size))
		if err != nil {
			return nil, fmt.Errorf("array element %d: %w", i, err)
		}
		for j := 0; j < m; j++ {
			out[i+j] = dec(b[j*size:])
		}
		i += m
	}
	return out, nil
}

func (d *decoder) array(t valueType, n int) (Value, error) {
	switch t {
	case vtUint8:
		v, err := fixedArray(d, n, 1, func(b []byte) uint8 { return b[0] })
		return NewValue(v), err
	case vtInt8:
		v, err := fixedArray(d, n, 1, func(b []byte) int8 { return int8(b[0]) })
		return NewValue(v), err
	case vtUint16:
		v, err := fixedArray(d, n, 2, le.Uint16)
		return NewValue(v), err
	case vtInt16:
		v, err := fixedArray(d, n, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
		return NewValue(v), err
	case vtUint32:
		v, err := fixedArray(d, n, 4, le.Uint32)
		return NewValue(v), err
	case vtInt32:
		v, err := fixedArray(d, n, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
		return NewValue(v), err
	case vtFloat32:
		v, err := fixedArray(d, n, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
		return NewValue(v), err
	case vtBool:
		v, err := fixedArray(d, n, 1, func(b []byte) bool { return b[0] != 0 })
		return NewValue(v), err
	case vtUint64:
		v, err := fixedArray(d, n, 8, le.Uint64)
		return NewValue(v), err
	case vtInt64:
		v, err := fixedArray(d, n, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
		return NewValue(v), err
	case vtFloat64:
		v, err := fixedArray(d, n, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
		return NewValue(v), err
	case vtString:
		v := make([]string, n)
		for i := range v {
			s, err := d.str(maxStringLen)
			if err != nil {
				return Value{}, fmt.Errorf("array element %d: %w", i, err)
			}
			v[i] = s
		}
		return NewValue(v), nil
	}
	return Value{}, fmt.Errorf("invalid array element type %s", t)
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	var t TensorInfo
	n, err := d.stringLen(maxStringLen)
	if err != nil {
		return t, fmt.Errorf("name: %w", err)
	}
	if n > maxNameLen {
		return t, fmt.Errorf("name of %d bytes exceeds %d", n, maxNameLen)
	}
	b, err := d.bytes(n)
	if err != nil {
		return t, fmt.Errorf("name: %w", err)
	}
	t.Name = string(b)
	nDims, err := d.u32()
	if err != nil {
		return t, fmt.Errorf("n_dims: %w", err)
	}
	if nDims > maxDims {
		return t, fmt.Errorf("%d dimensions, at most %d allowed", nDims, maxDims)
	}
	t.Shape = make([]uint64, nDims)
	for j := range t.Shape {
		if t.Shape[j], err = d.u64(); err != nil {
			return t, fmt.Errorf("ne[%d]: %w", j, err)
		}
		if t.Shape[j] > math.MaxInt64 {
			return t, fmt.Errorf("ne[%d] = %d is negative as int64", j, t.Shape[j])
		}
	}
	typ, err := d.u32()
	if err != nil {
		return t, fmt.Errorf("type: %w", err)
	}
	t.Type = Type(typ)
	if !t.Type.Valid() {
		return t, fmt.Errorf("invalid ggml type %d", typ)
	}
	if t.Size, err = tensorSize(t.Type, t.Shape); err != nil {
		return t, err
	}
	if t.Offset, err = d.u64(); err != nil {
		return t, fmt.Errorf("offset: %w", err)
	}
	return t, nil
}
