package safetensors

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/mlxconv/mlxconv/mlx"
)

// Style selects the header bytes a Writer produces. The data section is the
// same for both: tensor bodies back to back in the plan's order.
type Style uint8

const (
	// MLX writes the header exactly as MLX's save_safetensors does (nlohmann
	// JSON): compact, keys sorted bytewise at both levels ("__metadata__"
	// sorts among the tensor names), entries as
	// {"data_offsets":[b,e],"dtype":"BF16","shape":[...]}, "__metadata__"
	// always present (null when the metadata is empty), and no padding.
	// The style does not restrict dtypes; note that mx.load rejects F64 and
	// F8_E5M2 and loads F8_E4M3 as uint8.
	MLX Style = iota + 1
	// HF writes the header as Hugging Face's safetensors library does
	// (serde_json): compact, "__metadata__" first when the metadata map is
	// non-nil (an empty non-nil map gives {}), then the tensors in data
	// order as {"dtype":"BF16","shape":[...],"data_offsets":[b,e]}, padded
	// with spaces to a multiple of 8 bytes. The Python library emits
	// metadata keys in hash order; we sort them bytewise, so the bytes
	// match whenever there is at most one metadata key.
	HF
)

func (s Style) String() string {
	switch s {
	case MLX:
		return "mlx"
	case HF:
		return "hf"
	}
	return "Style(" + strconv.Itoa(int(s)) + ")"
}

// Tensor is a tensor with its body, for Encode and WriteFile.
type Tensor struct {
	TensorInfo
	Data []byte // Size() bytes, little-endian, row-major
}

// align returns the padding that brings n up to a multiple of a (a > 0).
// It is the one alignment helper of the package.
func align(n, a int64) int64 { return (a - n%a) % a }

// hfRank orders dtypes as the Rust safetensors Dtype enum does ("in
// increasing alignment order"); the HF writer sorts by it, descending.
var hfRank = map[mlx.DType]int{
	mlx.Bool: 0, mlx.U8: 4, mlx.I8: 5, mlx.F8E5M2: 6, mlx.F8E4M3: 7,
	mlx.I16: 11, mlx.U16: 12, mlx.F16: 13, mlx.BF16: 14, mlx.I32: 15,
	mlx.U32: 16, mlx.F32: 17, mlx.C64: 18, mlx.F64: 19, mlx.I64: 20, mlx.U64: 21,
}

// CompareHF orders tensors as Hugging Face's safetensors writer lays them
// out: by dtype alignment descending (the Rust Dtype enum order: U64, I64,
// F64, C64, F32, U32, I32, BF16, F16, U16, I16, F8_E4M3, F8_E5M2, I8, U8,
// BOOL), then by name bytewise. Use it with slices.SortFunc to plan an
// HF-identical file.
func CompareHF(a, b TensorInfo) int {
	return cmp.Or(cmp.Compare(hfRank[b.DType], hfRank[a.DType]), cmp.Compare(a.Name, b.Name))
}

// Layout validates a plan and returns a copy of it with Begin and End
// assigned back to back in the given order, starting at 0 with no
// alignment, plus the length of the data section. The input's Begin and End
// are ignored and the input is not modified. Errors wrap ErrPlan.
func Layout(tensors []TensorInfo) ([]TensorInfo, int64, error) {
	out := make([]TensorInfo, len(tensors))
	seen := make(map[string]struct{}, len(tensors))
	var off int64
	for i, t := range tensors {
		switch {
		case !utf8.ValidString(t.Name):
			return nil, 0, planErr(t.Name, "name is not valid UTF-8")
		case t.Name == MetadataKey:
			return nil, 0, planErr(t.Name, "name is reserved for the metadata")
		case !t.DType.Valid():
			return nil, 0, planErr(t.Name, "invalid dtype %v", t.DType)
		}
		if _, dup := seen[t.Name]; dup {
			return nil, 0, planErr(t.Name, "duplicate name")
		}
		seen[t.Name] = struct{}{}
		n, err := tensorBytes(t.DType, t.Shape)
		if err != nil {
			return nil, 0, planErr(t.Name, "%v", err)
		}
		if off > math.MaxInt64-n {
			return nil, 0, planErr(t.Name, "data section overflows int64")
		}
		out[i] = TensorInfo{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape), Begin: off, End: off + n}
		off += n
	}
	return out, off, nil
}

// appendJSONString appends s as a JSON string the way both nlohmann::json
// (ensure_ascii off) and serde_json escape: '"', '\\', \b \f \n \r \t, other
// bytes below 0x20 as \u00xx (lowercase hex), everything else verbatim.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendInts(b []byte, v []int64) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return append(b, ']')
}

func appendShape(b []byte, shape []int) []byte {
	b = append(b, '[')
	for i, x := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return append(b, ']')
}

func appendMeta(b []byte, meta map[string]string, keys []string) []byte {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, meta[k])
	}
	return append(b, '}')
}

// Header returns the JSON header (padding included, length prefix
// excluded) for a plan already laid out by Layout, in the given style.
// Errors wrap ErrPlan.
func Header(plan []TensorInfo, meta map[string]string, style Style) ([]byte, error) {
	if style != MLX && style != HF {
		return nil, planErr("", "unknown header style %v", style)
	}
	keys, err := metaKeys(meta)
	if err != nil {
		return nil, err
	}
	var b []byte
	b = append(b, '{')
	switch style {
	case MLX:
		b = appendMLXEntries(b, plan, meta, keys)
	case HF:
		b = appendHFEntries(b, plan, meta, keys)
	}
	b = append(b, '}')
	if style == HF {
		for pad := align(int64(len(b)), 8); pad > 0; pad-- {
			b = append(b, ' ')
		}
	}
	if len(b) > MaxHeaderSize {
		return nil, planErr("", "header of %d bytes exceeds the limit of %d", len(b), MaxHeaderSize)
	}
	return b, nil
}

// metaKeys returns the metadata keys in order, after checking that keys
// and values are valid UTF-8.
func metaKeys(meta map[string]string) ([]string, error) {
	keys := make([]string, 0, len(meta))
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, planErr(MetadataKey, "key or value of %s is not valid UTF-8", quoteName(k))
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// appendMLXEntries appends the header's members in the MLX style: sorted
// bytewise with "__metadata__" (null when empty) among the tensor names.
func appendMLXEntries(b []byte, plan []TensorInfo, meta map[string]string, keys []string) []byte {
	order := make([]int, len(plan)+1) // indices into plan; len(plan) is the metadata
	for i := range order {
		order[i] = i
	}
	key := func(i int) string {
		if i == len(plan) {
			return MetadataKey
		}
		return plan[i].Name
	}
	slices.SortFunc(order, func(x, y int) int { return cmp.Compare(key(x), key(y)) })
	for j, i := range order {
		if j > 0 {
			b = append(b, ',')
		}
		if i == len(plan) {
			b = append(b, `"__metadata__":`...)
			if len(meta) == 0 {
				b = append(b, "null"...)
			} else {
				b = appendMeta(b, meta, keys)
			}
			continue
		}
		t := plan[i]
		b = appendJSONString(b, t.Name)
		b = append(b, `:{"data_offsets":`...)
		b = appendInts(b, []int64{t.Begin, t.End})
		b = append(b, `,"dtype":`...)
		b = appendJSONString(b, t.DType.SafetensorsName())
		b = append(b, `,"shape":`...)
		b = appendShape(b, t.Shape)
		b = append(b, '}')
	}
	return b
}

// appendHFEntries appends the header's members in the HF style:
// "__metadata__" first unless nil, then the tensors in plan order.
func appendHFEntries(b []byte, plan []TensorInfo, meta map[string]string, keys []string) []byte {
	if meta != nil {
		b = append(b, `"__metadata__":`...)
		b = appendMeta(b, meta, keys)
	}
	for i, t := range plan {
		if i > 0 || meta != nil {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendJSONString(b, t.DType.SafetensorsName())
		b = append(b, `,"shape":`...)
		b = appendShape(b, t.Shape)
		b = append(b, `,"data_offsets":`...)
		b = appendInts(b, []int64{t.Begin, t.End})
		b = append(b, '}')
	}
	return b
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Writer streams one safetensors file: the header, written by NewWriter,
// then the tensor bodies in the planned order, each through Create or
// WriteTensor. It buffers its writes and counts offsets, so the destination
// needs no Seek. Close checks that every body was written in full and
// flushes, but does not close the destination.
//
// Errors are sticky: after the first failure every method returns it. A
// Writer is not safe for concurrent use.
type Writer struct {
	cw         *countWriter
	bw         *bufio.Writer
	plan       []TensorInfo
	headerLen  int64
	dataOffset int64
	size       int64
	next       int   // index in plan of the next body to Create
	remain     int64 // bytes still owed to body next-1
	err        error
	closed     bool
}

// writerBufferSize is the largest bufio buffer of a Writer; small files get
// a buffer of their own size (at least 4 KiB).
const writerBufferSize = 1 << 20

// NewWriter lays out the plan (see Layout: the order of tensors is the order
// of the bodies; their Begin and End are ignored), builds the header in the
// given style and writes it to w. meta is the "__metadata__" map (see Style
// for how nil and empty maps are written). Plan errors wrap ErrPlan.
func NewWriter(w io.Writer, tensors []TensorInfo, meta map[string]string, style Style) (*Writer, error) {
	plan, dataLen, err := Layout(tensors)
	if err != nil {
		return nil, err
	}
	hdr, err := Header(plan, meta, style)
	if err != nil {
		return nil, err
	}
	hl := int64(len(hdr))
	if dataLen > math.MaxInt64-8-hl {
		return nil, planErr("", "file size overflows int64")
	}
	cw := &countWriter{w: w}
	bufSize := int(min(max(8+hl+dataLen, 4096), writerBufferSize))
	wr := &Writer{cw: cw, bw: bufio.NewWriterSize(cw, bufSize), plan: plan,
		headerLen: hl, dataOffset: 8 + hl, size: 8 + hl + dataLen}
	var lb [8]byte
	binary.LittleEndian.PutUint64(lb[:], uint64(hl))
	if _, err := wr.bw.Write(lb[:]); err != nil {
		return nil, fmt.Errorf("safetensors: write header: %w", err)
	}
	if _, err := wr.bw.Write(hdr); err != nil {
		return nil, fmt.Errorf("safetensors: write header: %w", err)
	}
	return wr, nil
}

// Tensors returns a copy of the laid-out plan, in data order.
func (w *Writer) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(w.plan))
	for i, t := range w.plan {
		out[i] = t.clone()
	}
	return out
}

// HeaderLen returns the JSON header's length, padding included.
func (w *Writer) HeaderLen() int64 { return w.headerLen }

// DataOffset returns the file offset of the data section (8 + HeaderLen).
func (w *Writer) DataOffset() int64 { return w.dataOffset }

// Size returns the size of the complete file.
func (w *Writer) Size() int64 { return w.size }

// finish checks that the body in progress, if any, is complete.
func (w *Writer) finish() error {
	if w.remain != 0 {
		t := w.plan[w.next-1]
		w.err = writeErr("tensor %s: body is %d bytes, want %d", quoteName(t.Name), t.Size()-w.remain, t.Size())
		return w.err
	}
	return nil
}

// Create starts the body of the named tensor, which must be the next one in
// the plan, and returns a writer for exactly Size() bytes. The writer is
// valid until the next Create, WriteTensor or Close, which fail if it
// received fewer bytes; writing more bytes than planned fails at once.
func (w *Writer) Create(name string) (io.Writer, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.closed {
		return nil, writeErr("tensor %s: writer is closed", quoteName(name))
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	if w.next >= len(w.plan) {
		w.err = writeErr("tensor %s: every planned tensor is already written", quoteName(name))
		return nil, w.err
	}
	if t := w.plan[w.next]; t.Name != name {
		w.err = writeErr("tensor %s: out of order, the plan's next tensor is %s", quoteName(name), quoteName(t.Name))
		return nil, w.err
	}
	w.remain = w.plan[w.next].Size()
	w.next++
	return &bodyWriter{w: w, index: w.next - 1}, nil
}

// WriteTensor writes the whole body of the named tensor, which must be the
// next one in the plan; len(data) must equal its Size().
func (w *Writer) WriteTensor(name string, data []byte) error {
	if w.err == nil && !w.closed && w.next < len(w.plan) && w.plan[w.next].Name == name &&
		int64(len(data)) != w.plan[w.next].Size() {
		w.err = writeErr("tensor %s: body is %d bytes, want %d", quoteName(name), len(data), w.plan[w.next].Size())
		return w.err
	}
	bw, err := w.Create(name)
	if err != nil {
		return err
	}
	_, err = bw.Write(data)
	return err
}

// Close checks that every planned body was written in full and flushes the
// buffer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.finish(); err != nil {
		return err
	}
	if w.next < len(w.plan) {
		w.err = writeErr("close: %d of %d tensors written, next is %s",
			w.next, len(w.plan), quoteName(w.plan[w.next].Name))
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("safetensors: flush: %w", err)
		return w.err
	}
	if w.cw.n != w.size {
		w.err = fmt.Errorf("safetensors: wrote %d bytes, planned %d: %w", w.cw.n, w.size, io.ErrShortWrite)
		return w.err
	}
	return nil
}

type bodyWriter struct {
	w     *Writer
	index int
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	w := b.w
	if w.err != nil {
		return 0, w.err
	}
	if w.closed || w.next-1 != b.index {
		return 0, writeErr("tensor %s: body writer used after the next Create or Close", quoteName(w.plan[b.index].Name))
	}
	if int64(len(p)) > w.remain {
		t := w.plan[b.index]
		w.err = writeErr("tensor %s: body exceeds its %d bytes", quoteName(t.Name), t.Size())
		return 0, w.err
	}
	n, err := w.bw.Write(p)
	w.remain -= int64(n)
	if err != nil {
		w.err = fmt.Errorf("safetensors: tensor %s: %w", quoteName(w.plan[b.index].Name), err)
		return n, w.err
	}
	return n, nil
}

// Encode writes a complete file to w: the tensors in the given order with
// their data, in the given header style. It does not close w.
func Encode(w io.Writer, tensors []Tensor, meta map[string]string, style Style) error {
	infos := make([]TensorInfo, len(tensors))
	for i, t := range tensors {
		infos[i] = t.TensorInfo
	}
	sw, err := NewWriter(w, infos, meta, style)
	if err != nil {
		return err
	}
	for _, t := range tensors {
		if err := sw.WriteTensor(t.Name, t.Data); err != nil {
			return err
		}
	}
	return sw.Close()
}

// WriteFile writes a complete file at path with Encode, creating or
// truncating it. On error the partial file is removed. It is a convenience
// for small files and tests; it does not sync or rename atomically.
func WriteFile(path string, tensors []Tensor, meta map[string]string, style Style) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("safetensors: %w", cerr)
		}
		if err != nil {
			err = errors.Join(err, removeIgnoreMissing(path))
		}
	}()
	return Encode(f, tensors, meta, style)
}

func removeIgnoreMissing(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
