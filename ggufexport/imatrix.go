package ggufexport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
)

// ErrImatrix is wrapped by every error reading an importance matrix file.
var ErrImatrix = errors.New("imatrix")

// Imatrix is an importance matrix as llama-quantize uses it: per tensor
// name, one weight per column (per expert, expert-major, for stacked
// experts), already normalized as llama-quantize's load_imatrix does
// (GGUF: in_sum2 / count per expert, 1 where the count is 0; legacy .dat:
// sums / ncall).
type Imatrix struct {
	Entries  map[string][]float32
	Datasets []string // imatrix.datasets (legacy: the trailing dataset name)
	Chunks   int      // imatrix.chunk_count (legacy: the trailing call count)
	Legacy   bool
}

// Limits for hostile files.
const (
	maxImatrixEntries = 1 << 20
	maxImatrixValues  = 1 << 28 // per entry
	maxImatrixName    = 1 << 12
	maxImatrixFile    = 1 << 34
)

// LoadImatrix reads an importance matrix written by llama-imatrix: the
// GGUF format it writes now (tensors NAME.in_sum2 and NAME.counts, KVs
// imatrix.datasets/chunk_count/chunk_size) or the legacy .dat. Like
// llama-quantize it refuses a GGUF file without that metadata and any
// non-finite value.
func LoadImatrix(path string) (*Imatrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrImatrix, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrImatrix, err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxImatrixFile {
		return nil, fmt.Errorf("%w: %q is not a regular file of at most %d bytes", ErrImatrix, path, int64(maxImatrixFile))
	}
	im, err := ParseImatrix(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return im, nil
}

// ParseImatrix parses an importance matrix file of size bytes (see
// LoadImatrix): GGUF when it parses as GGUF, legacy .dat otherwise, as
// common_imatrix_load decides.
func ParseImatrix(r io.ReaderAt, size int64) (*Imatrix, error) {
	f, gerr := gguf.NewReader(r, size)
	if gerr == nil {
		return parseImatrixGGUF(f)
	}
	im, err := parseImatrixLegacy(io.NewSectionReader(r, 0, size), size)
	if err != nil {
		return nil, fmt.Errorf("%w (and as GGUF: %v)", err, gerr)
	}
	return im, nil
}

// parseImatrixGGUF reads the GGUF form.
func parseImatrixGGUF(f *gguf.File) (*Imatrix, error) {
	im := &Imatrix{Entries: map[string][]float32{}}
	if len(f.Tensors) == 0 {
		return nil, fmt.Errorf("%w: no data", ErrImatrix)
	}
	ds, okD := f.Lookup("imatrix.datasets")
	cc, okC := f.Lookup("imatrix.chunk_count")
	_, okS := f.Lookup("imatrix.chunk_size")
	if !okD || !okC || !okS {
		return nil, fmt.Errorf("%w: missing imatrix metadata (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size)", ErrImatrix)
	}
	if v, ok := ds.Any().([]string); ok {
		im.Datasets = v
	}
	if n, ok := cc.Any().(uint32); ok {
		im.Chunks = int(int32(n))
	}
	for name, p := range imatrixPairs(f.Tensors) {
		if p[0] == 0 || p[1] == 0 {
			return nil, fmt.Errorf("%w: mismatched sums and counts for %q", ErrImatrix, name)
		}
		e, err := imatrixEntry(f, f.Tensors[p[0]-1], f.Tensors[p[1]-1])
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrImatrix, name, err)
		}
		im.Entries[name] = e
	}
	if len(im.Entries) == 0 {
		return nil, fmt.Errorf("%w: no entries", ErrImatrix)
	}
	return im, nil
}

// imatrixPairs maps each entry name to its NAME.in_sum2 and NAME.counts
// tensor indices, plus one (0: missing).
func imatrixPairs(ts []gguf.TensorInfo) map[string][2]int {
	pairs := map[string][2]int{}
	for i, t := range ts {
		for k, suffix := range []string{".in_sum2", ".counts"} {
			if name, ok := strings.CutSuffix(t.Name, suffix); ok && name != "" {
				p := pairs[name]
				p[k] = i + 1
				pairs[name] = p
			}
		}
	}
	return pairs
}

// imatrixEntry normalizes one GGUF entry: sums / count per expert.
func imatrixEntry(f *gguf.File, sums, counts gguf.TensorInfo) ([]float32, error) {
	if sums.Type != gguf.F32 || counts.Type != gguf.F32 {
		return nil, errors.New("sums and counts must be F32")
	}
	s, err := readF32s(f, sums)
	if err != nil {
		return nil, err
	}
	c, err := readF32s(f, counts)
	if err != nil {
		return nil, err
	}
	if len(c) == 0 || len(s)%len(c) != 0 {
		return nil, fmt.Errorf("%d sums do not split into %d counts", len(s), len(c))
	}
	ne0 := len(s) / len(c)
	out := make([]float32, len(s))
	for j, cf := range c {
		if math.IsNaN(float64(cf)) || math.IsInf(float64(cf), 0) || math.Abs(float64(cf)) > 1<<62 {
			return nil, fmt.Errorf("count %d is %v", j, cf)
		}
		count := float32(int64(math.Round(float64(cf)))) // std::lround, then (float)
		for i := range ne0 {
			if count > 0 {
				out[j*ne0+i] = s[j*ne0+i] / count
			} else {
				out[j*ne0+i] = 1
			}
		}
	}
	return out, checkImatrixFinite(out)
}

// readF32s reads a small F32 tensor.
func readF32s(f *gguf.File, t gguf.TensorInfo) ([]float32, error) {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	if n > maxImatrixValues {
		return nil, fmt.Errorf("%d values, at most %d allowed", n, maxImatrixValues)
	}
	sec, err := f.Section(t.Name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4*n)
	if _, err := io.ReadFull(sec, b); err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

func checkImatrixFinite(x []float32) error {
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("non-finite value %v", v)
		}
	}
	return nil
}

// legacyReader reads the legacy format's little-endian fields.
type legacyReader struct {
	r    io.Reader
	left int64
}

func (lr *legacyReader) i32() (int32, error) {
	var b [4]byte
	if _, err := io.ReadFull(lr.r, b[:]); err != nil {
		return 0, err
	}
	lr.left -= 4
	return int32(binary.LittleEndian.Uint32(b[:])), nil
}

func (lr *legacyReader) bytes(n int64) ([]byte, error) {
	if n < 0 || n > lr.left {
		return nil, fmt.Errorf("length %d exceeds the %d bytes left", n, lr.left)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(lr.r, b); err != nil {
		return nil, err
	}
	lr.left -= n
	return b, nil
}

// parseImatrixLegacy reads the legacy .dat: int32 entries; per entry int32
// name length, name, int32 ncall, int32 nval, nval float32; optionally
// int32 chunk count, int32 dataset length, dataset.
func parseImatrixLegacy(r io.Reader, size int64) (*Imatrix, error) {
	lr := &legacyReader{r: r, left: size}
	n, err := lr.i32()
	if err != nil || n < 1 || n > maxImatrixEntries {
		return nil, fmt.Errorf("%w: not a GGUF or legacy imatrix file (no data)", ErrImatrix)
	}
	im := &Imatrix{Entries: map[string][]float32{}, Legacy: true}
	for i := range int(n) {
		if err := im.legacyEntry(lr); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrImatrix, i+1, err)
		}
	}
	if lr.left >= 4 {
		calls, err := lr.i32()
		if err == nil {
			im.Chunks = int(calls)
			if l, err := lr.i32(); err == nil && l > 0 {
				if b, err := lr.bytes(int64(l)); err == nil {
					if k := bytes.IndexByte(b, 0); k >= 0 {
						b = b[:k]
					}
					im.Datasets = []string{string(b)}
				}
			}
		}
	}
	return im, nil
}

func (im *Imatrix) legacyEntry(lr *legacyReader) error {
	l, err := lr.i32()
	if err != nil || l < 0 || l > maxImatrixName {
		return fmt.Errorf("bad name length %d", l)
	}
	nb, err := lr.bytes(int64(l))
	if err != nil {
		return err
	}
	if k := bytes.IndexByte(nb, 0); k >= 0 {
		nb = nb[:k] // a C string
	}
	ncall, err := lr.i32()
	if err != nil {
		return err
	}
	nval, err := lr.i32()
	if err != nil || nval < 1 || nval > maxImatrixValues {
		return fmt.Errorf("bad number of values %d", nval)
	}
	b, err := lr.bytes(4 * int64(nval))
	if err != nil {
		return err
	}
	e := make([]float32, nval)
	for i := range e {
		e[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if ncall > 0 {
			e[i] /= float32(ncall)
		}
	}
	if err := checkImatrixFinite(e); err != nil {
		return err
	}
	im.Entries[string(nb)] = e
	return nil
}

// imatrixKVs are the KVs llama-quantize adds for an importance matrix
// (after general.file_type): the file as given and the first dataset,
// each cut to 127 bytes, the entry count and, when known, the chunk count.
func (im *Imatrix) imatrixKVs(path string) []gguf.KV {
	cut := func(s string) string {
		if len(s) > 127 {
			return s[:127]
		}
		return s
	}
	kvs := []gguf.KV{{Key: "quantize.imatrix.file", Value: gguf.NewValue(cut(path))}}
	if len(im.Datasets) > 0 {
		kvs = append(kvs, gguf.KV{Key: "quantize.imatrix.dataset", Value: gguf.NewValue(cut(im.Datasets[0]))})
	}
	kvs = append(kvs, gguf.KV{Key: "quantize.imatrix.entries_count", Value: gguf.NewValue(uint32(len(im.Entries)))})
	if im.Chunks > 0 {
		kvs = append(kvs, gguf.KV{Key: "quantize.imatrix.chunks_count", Value: gguf.NewValue(uint32(im.Chunks))})
	}
	return kvs
}
