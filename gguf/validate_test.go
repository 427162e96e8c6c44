package gguf_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
)

// raw builds GGUF bytes field by field, so tests can write what the Writer
// refuses to.
type raw struct{ b []byte }

func (r *raw) u8(v uint8) *raw   { r.b = append(r.b, v); return r }
func (r *raw) u32(v uint32) *raw { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) str(s string) *raw { return r.u64(uint64(len(s))).bytes([]byte(s)) }
func (r *raw) bytes(b []byte) *raw {
	r.b = append(r.b, b...)
	return r
}
func (r *raw) pad(align int) *raw {
	for len(r.b)%align != 0 {
		r.b = append(r.b, 0)
	}
	return r
}
func (r *raw) zeros(n int) *raw { return r.bytes(make([]byte, n)) }

// header starts a v3 file with the given counts.
func header(nTensors, nKV uint64) *raw {
	r := &raw{}
	return r.bytes([]byte("GGUF")).u32(3).u64(nTensors).u64(nKV)
}

// kvU32 appends a UINT32 KV.
func (r *raw) kvU32(key string, v uint32) *raw { return r.str(key).u32(4).u32(v) }

// ti appends a tensor info.
func (r *raw) ti(name string, typ gguf.Type, off uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(off)
}

// oneTensor is a valid file with one KV and one F32 tensor of 4 elements.
func oneTensor() *raw {
	return header(1, 1).kvU32("a", 1).ti("t", gguf.F32, 0, 4).pad(32).zeros(32)
}

func TestReaderAccepts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  []byte
		check func(t *testing.T, f *gguf.File)
	}{
		{"minimal", header(0, 0).b, func(t *testing.T, f *gguf.File) {
			assert.EqualValues(t, 24, f.HeaderSize)
			assert.EqualValues(t, 24, f.DataOffset)
		}},
		{"version 2", func() []byte { b := oneTensor().b; b[4] = 2; return b }(), func(t *testing.T, f *gguf.File) {
			assert.EqualValues(t, 2, f.Version)
		}},
		{"one tensor", oneTensor().b, func(t *testing.T, f *gguf.File) {
			assert.EqualValues(t, 74, f.HeaderSize)
			assert.EqualValues(t, 96, f.DataOffset)
			assert.EqualValues(t, 16, f.Tensors[0].Size)
		}},
		{"no trailing padding", header(1, 0).ti("t", gguf.F32, 0, 3).pad(32).zeros(12).b, nil},
		{"bool byte 2 is true", header(0, 1).str("b").u32(7).u8(2).b, func(t *testing.T, f *gguf.File) {
			v, _ := f.Lookup("b")
			assert.Equal(t, true, v.Any())
		}},
		{"alignment 1", header(1, 1).kvU32("general.alignment", 1).ti("t", gguf.F32, 0, 1).zeros(4).b, func(t *testing.T, f *gguf.File) {
			assert.EqualValues(t, 1, f.Alignment)
		}},
		{"alignment 64", header(1, 1).kvU32("general.alignment", 64).ti("t", gguf.F32, 0, 1).pad(64).zeros(64).b, func(t *testing.T, f *gguf.File) {
			assert.EqualValues(t, 90, f.HeaderSize)
			assert.EqualValues(t, 128, f.DataOffset)
		}},
		{"scalar and zero-size tensors", header(2, 0).ti("s", gguf.F32, 0).ti("z", gguf.Q8_0, 32, 32, 0).pad(32).zeros(32).b, func(t *testing.T, f *gguf.File) {
			assert.Empty(t, f.Tensors[0].Shape)
			assert.EqualValues(t, 4, f.Tensors[0].Size)
			assert.EqualValues(t, 0, f.Tensors[1].Size)
		}},
		{"empty tensor name", header(1, 0).ti("", gguf.F32, 0, 1).pad(32).zeros(4).b, nil},
		{"name of 63 bytes", header(1, 0).ti(strings.Repeat("n", 63), gguf.F32, 0, 1).pad(32).zeros(4).b, nil},
		{"trailing bytes after data", oneTensor().zeros(100).b, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := gguf.NewReader(bytes.NewReader(tc.file), int64(len(tc.file)))
			require.NoError(t, err)
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestReaderRejects(t *testing.T) {
	big := uint64(1) << 62
	for _, tc := range []struct {
		name string
		file []byte
		want string // substring of the error
	}{
		{"empty", nil, "magic"},
		{"bad magic", (&raw{}).bytes([]byte("GGUG")).u32(3).u64(0).u64(0).b, `bad magic "GGUG"`},
		{"lowercase magic", (&raw{}).bytes([]byte("gguf")).u32(3).u64(0).u64(0).b, "bad magic"},
		{"version 0", (&raw{}).bytes([]byte("GGUF")).u32(0).u64(0).u64(0).b, "version 0"},
		{"version 1", (&raw{}).bytes([]byte("GGUF")).u32(1).u64(0).u64(0).b, "version 1"},
		{"version 4", (&raw{}).bytes([]byte("GGUF")).u32(4).u64(0).u64(0).b, "version 4 not supported"},
		{"byte-swapped", (&raw{}).bytes([]byte("GGUF")).u32(0x03000000).u64(0).u64(0).b, "byte-swapped"},
		{"truncated counts", header(0, 0).b[:12], "tensor count"},
		{"truncated kv count", header(0, 0).b[:20], "kv count"},
		{"kv count beyond file", header(0, 1<<40).b, "kv count 1099511627776 exceeds"},
		{"tensor count beyond file", header(1<<60, 0).b, "tensor count"},
		{"tensor count negative", header(1<<63, 0).b, "tensor count"},
		{"empty key", header(0, 1).str("").u32(4).u32(1).b, "kv 0: empty key"},
		{"duplicate key", header(0, 2).kvU32("a", 1).kvU32("a", 2).b, `kv 1 "a": duplicate key (first at kv 0)`},
		{"bad value type", header(0, 1).str("k").u32(13).u32(0).b, `kv 0 "k": invalid value type 13`},
		{"nested array", header(0, 1).str("k").u32(9).u32(9).u64(0).b, "nested arrays"},
		{"bad array element type", header(0, 1).str("k").u32(9).u32(77).u64(0).b, "invalid array element type"},
		{"array too long", header(0, 1).str("k").u32(9).u32(0).u64(1<<30 + 1).b, "exceeds the limit 1073741824"},
		{"array beyond file", header(0, 1).str("k").u32(9).u32(4).u64(1000).zeros(40).b, "remaining bytes"},
		{"string array beyond file", header(0, 1).str("k").u32(9).u32(8).u64(100).zeros(40).b, "remaining bytes"},
		{"string too long", header(0, 1).str("k").u32(8).u64(1<<30 + 1).b, "exceeds the limit"},
		{"string beyond file", header(0, 1).str("k").u32(8).u64(100).zeros(10).b, "exceeds the 10 remaining bytes"},
		{"key beyond file", header(0, 1).u64(1 << 40).zeros(20).b, "kv 0: key"},
		{"array element string beyond file", header(0, 1).str("k").u32(9).u32(8).u64(2).str("x").u64(50).zeros(8).b, "array element 1"},
		{"truncated scalar", header(0, 1).str("k").u32(10).zeros(3).b, "unexpected end of file"},
		{"truncated value type", header(0, 1).str("kkkkkkkk").b, "value type"},
		{"alignment not uint32", header(0, 1).str("general.alignment").u32(10).u64(32).b, `"general.alignment": type UINT64, must be UINT32`},
		{"alignment int32", header(0, 1).str("general.alignment").u32(5).u32(32).b, "must be UINT32"},
		{"alignment 0", header(0, 1).kvU32("general.alignment", 0).b, "alignment 0 is not a non-zero power of two"},
		{"alignment 48", header(0, 1).kvU32("general.alignment", 48).b, "alignment 48"},
		{"tensor name too long", header(1, 0).ti(strings.Repeat("n", 64), gguf.F32, 0, 1).pad(32).zeros(4).b, "tensor 0: name of 64 bytes exceeds 63"},
		{"tensor name beyond file", header(1, 0).u64(30).zeros(20).b, "tensor 0: name"},
		{"duplicate tensor", header(2, 0).ti("t", gguf.F32, 0, 1).ti("t", gguf.F32, 32, 1).pad(32).zeros(64).b, `tensor 1 "t": duplicate name (first at tensor 0)`},
		{"too many dims", header(1, 0).ti("t", gguf.F32, 0, 1, 1, 1, 1, 1).pad(32).zeros(4).b, `tensor 0 "t": 5 dimensions, at most 4`},
		{"negative dim", header(1, 0).ti("t", gguf.F32, 0, 1<<63).b, "ne[0] = 9223372036854775808 is negative"},
		{"element overflow", header(1, 0).ti("t", gguf.I8, 0, 1<<32, 1<<32).b, "overflows int64"},
		{"byte size overflow", header(1, 0).ti("t", gguf.F64, 0, big, 1).b, "overflows"},
		{"removed type", header(1, 0).ti("t", gguf.Type(4), 0, 32).b, "invalid ggml type 4"},
		{"type count", header(1, 0).ti("t", gguf.TypeCount, 0, 32).b, "invalid ggml type 43"},
		{"huge type", header(1, 0).ti("t", gguf.Type(0xffffffff), 0, 32).b, "invalid ggml type 4294967295"},
		{"block mismatch", header(1, 0).ti("t", gguf.Q4_0, 0, 16, 2).pad(32).zeros(32).b, "not a multiple of the block size 32"},
		{"truncated tensor info", header(1, 0).str("tttt").u32(2).u64(4).b, `tensor 0 "tttt": ne[1]`},
		{"first offset not zero", header(1, 0).ti("t", gguf.F32, 32, 4).pad(32).zeros(64).b, `tensor 0 "t": offset 32, expected 0`},
		{"gap between tensors", header(2, 0).ti("a", gguf.F32, 0, 4).ti("b", gguf.F32, 64, 4).pad(32).zeros(96).b, `tensor 1 "b": offset 64, expected 32`},
		{"misaligned offset", header(2, 0).ti("a", gguf.F32, 0, 3).ti("b", gguf.F32, 12, 4).pad(32).zeros(64).b, "offset 12, expected 32"},
		{"reordered offsets", header(2, 0).ti("a", gguf.F32, 32, 4).ti("b", gguf.F32, 0, 4).pad(32).zeros(64).b, `tensor 0 "a": offset 32, expected 0`},
		{"overlapping offsets", header(2, 0).ti("a", gguf.F32, 0, 16).ti("b", gguf.F32, 32, 4).pad(32).zeros(128).b, "offset 32, expected 64"},
		{"data past end", header(1, 0).ti("t", gguf.F32, 0, 100).pad(32).zeros(399).b, `tensor 0 "t": data at 64+0 (400 bytes) extends past the end`},
		{"data section past end", header(1, 0).ti("t", gguf.F32, 0, 0).b, "data section"},
		{"huge dims past end", header(1, 0).ti("t", gguf.F32, 0, 1<<40).pad(32).b, "extends past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := gguf.NewReader(bytes.NewReader(tc.file), int64(len(tc.file)))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, gguf.ErrFormat)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestReaderTruncations(t *testing.T) {
	// Every prefix of a valid file with tensors is rejected, never a panic.
	data, _ := writeFile(t, sampleKVs(), sampleTensors())
	f, err := gguf.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	lastEnd := f.DataOffset + int64(f.Tensors[len(f.Tensors)-1].Offset+f.Tensors[len(f.Tensors)-1].Size)
	for n := 0; n < int(lastEnd); n++ {
		_, err := gguf.NewReader(bytes.NewReader(data[:n]), int64(n))
		require.ErrorIs(t, err, gguf.ErrFormat, "prefix of %d bytes", n)
	}
}

func TestPlanRejects(t *testing.T) {
	okKV := gguf.KV{Key: "k", Value: gguf.NewValue[uint32](1)}
	f32 := func(name string, shape ...uint64) gguf.TensorInfo {
		return gguf.TensorInfo{Name: name, Type: gguf.F32, Shape: shape}
	}
	for _, tc := range []struct {
		name    string
		kvs     []gguf.KV
		tensors []gguf.TensorInfo
		want    string
	}{
		{"empty key", []gguf.KV{{Key: "", Value: gguf.NewValue[uint8](1)}}, nil, "kv 0: empty key"},
		{"duplicate key", []gguf.KV{okKV, okKV}, nil, `kv 1 "k": duplicate key (first at kv 0)`},
		{"zero value", []gguf.KV{okKV, {Key: "z"}}, nil, `kv 1 "z": gguf: invalid argument: invalid (zero) value`},
		{"alignment uint64", []gguf.KV{{Key: "general.alignment", Value: gguf.NewValue[uint64](32)}}, nil, "must be UINT32"},
		{"alignment 4", []gguf.KV{{Key: "general.alignment", Value: gguf.NewValue[uint32](4)}}, nil, "alignment 4 is not a power of two >= 8"},
		{"alignment 0", []gguf.KV{{Key: "general.alignment", Value: gguf.NewValue[uint32](0)}}, nil, "alignment 0"},
		{"alignment 24", []gguf.KV{{Key: "general.alignment", Value: gguf.NewValue[uint32](24)}}, nil, "alignment 24"},
		{"empty tensor name", nil, []gguf.TensorInfo{f32("", 1)}, "tensor 0: empty name"},
		{"long tensor name", nil, []gguf.TensorInfo{f32(strings.Repeat("x", 64), 1)}, "name of 64 bytes exceeds 63"},
		{"duplicate tensor", nil, []gguf.TensorInfo{f32("a", 1), f32("b", 1), f32("a", 2)}, `tensor 2 "a": duplicate name (first at tensor 0)`},
		{"five dims", nil, []gguf.TensorInfo{f32("a", 1, 1, 1, 1, 1)}, "5 dimensions, at most 4"},
		{"removed type", nil, []gguf.TensorInfo{{Name: "a", Type: gguf.Type(33), Shape: []uint64{32}}}, "invalid tensor type 33"},
		{"unknown type", nil, []gguf.TensorInfo{{Name: "a", Type: gguf.Type(1000), Shape: []uint64{32}}}, "invalid tensor type 1000"},
		{"block mismatch", nil, []gguf.TensorInfo{{Name: "a", Type: gguf.Q4_K, Shape: []uint64{128, 2}}}, "Q4_K row of 128 elements is not a multiple of the block size 256"},
		{"element overflow", nil, []gguf.TensorInfo{f32("a", 1<<40, 1<<40)}, "overflows int64"},
		{"negative dim", nil, []gguf.TensorInfo{f32("a", 1<<63)}, "does not fit int64"},
		{"byte overflow", nil, []gguf.TensorInfo{f32("a", 1<<62)}, "byte size"},
		{"data section overflow", nil, []gguf.TensorInfo{f32("a", 1<<60), f32("b", 1<<60)}, "data section size overflows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := gguf.NewPlan(tc.kvs, tc.tensors)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, gguf.ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestPlanDoesNotModifyInput(t *testing.T) {
	tensors := []gguf.TensorInfo{{Name: "a", Type: gguf.F32, Shape: []uint64{3}, Offset: 99, Size: 7}}
	kvs := []gguf.KV{{Key: "k", Value: gguf.NewValue[uint32](1)}}
	p, err := gguf.NewPlan(kvs, tensors)
	require.NoError(t, err)
	assert.EqualValues(t, 99, tensors[0].Offset)
	assert.EqualValues(t, 7, tensors[0].Size)
	assert.EqualValues(t, 0, p.Tensors[0].Offset)
	assert.EqualValues(t, 12, p.Tensors[0].Size)
	tensors[0].Shape[0] = 5
	assert.EqualValues(t, 3, p.Tensors[0].Shape[0], "the plan holds its own copy of the shape")
}

// TestAlignmentSweep sweeps the header size over every residue modulo each
// alignment, including the already aligned edge, and checks the planned
// layout, the bytes and the reader's view of them.
func TestAlignmentSweep(t *testing.T) {
	for _, align := range []uint32{8, 16, 32, 64} {
		alignedSeen := false
		residues := map[int64]bool{}
		for fill := 0; fill < 2*int(align); fill++ {
			kvs := []gguf.KV{
				{Key: "general.alignment", Value: gguf.NewValue[uint32](align)},
				{Key: "fill", Value: gguf.NewValue(strings.Repeat("x", fill))},
			}
			tensors := []gguf.TensorInfo{
				{Name: "a", Type: gguf.F32, Shape: []uint64{3}},   // 12 bytes
				{Name: "b", Type: gguf.F16, Shape: []uint64{5}},   // 10 bytes
				{Name: "c", Type: gguf.F32, Shape: []uint64{16}},  // 64 bytes, aligned
				{Name: "d", Type: gguf.Q8_0, Shape: []uint64{32}}, // 34 bytes
			}
			data, p := writeFile(t, kvs, tensors)
			a := int64(align)
			residues[p.HeaderSize%a] = true
			require.Zero(t, p.DataOffset%a)
			require.GreaterOrEqual(t, p.DataOffset, p.HeaderSize)
			require.Less(t, p.DataOffset-p.HeaderSize, a)
			if p.HeaderSize%a == 0 {
				alignedSeen = true
				require.Equal(t, p.HeaderSize, p.DataOffset, "an aligned header gets no padding")
			}
			var want uint64
			for i, ti := range p.Tensors {
				require.Equal(t, want, ti.Offset, "tensor %d", i)
				want += (ti.Size + uint64(a) - 1) / uint64(a) * uint64(a)
			}
			require.Zero(t, p.FileSize%a, "trailing pad")
			require.EqualValues(t, p.DataOffset+int64(want), p.FileSize)
			// Padding bytes are zero.
			for i := p.HeaderSize; i < p.DataOffset; i++ {
				require.Zero(t, data[i])
			}
			f, err := gguf.NewReader(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			require.EqualValues(t, align, f.Alignment)
			require.Equal(t, p.DataOffset, f.DataOffset)
			for i, ti := range f.Tensors {
				require.Equal(t, tensorBytes(i, ti), readAll(t, f, ti.Name))
			}
		}
		assert.True(t, alignedSeen, "alignment %d: the already aligned edge was not reached", align)
		assert.Len(t, residues, int(align), "alignment %d: not every header residue was covered", align)
	}
}

func TestTypeTable(t *testing.T) {
	// id, name, block elements, block bytes: ggml-common.h at ggml d99724f2.
	want := []struct {
		typ         gguf.Type
		id          uint32
		name        string
		block, size uint64
	}{
		{gguf.F32, 0, "F32", 1, 4}, {gguf.F16, 1, "F16", 1, 2},
		{gguf.Q4_0, 2, "Q4_0", 32, 18}, {gguf.Q4_1, 3, "Q4_1", 32, 20},
		{gguf.Q5_0, 6, "Q5_0", 32, 22}, {gguf.Q5_1, 7, "Q5_1", 32, 24},
		{gguf.Q8_0, 8, "Q8_0", 32, 34}, {gguf.Q8_1, 9, "Q8_1", 32, 36},
		{gguf.Q2_K, 10, "Q2_K", 256, 84}, {gguf.Q3_K, 11, "Q3_K", 256, 110},
		{gguf.Q4_K, 12, "Q4_K", 256, 144}, {gguf.Q5_K, 13, "Q5_K", 256, 176},
		{gguf.Q6_K, 14, "Q6_K", 256, 210}, {gguf.Q8_K, 15, "Q8_K", 256, 292},
		{gguf.IQ2_XXS, 16, "IQ2_XXS", 256, 66}, {gguf.IQ2_XS, 17, "IQ2_XS", 256, 74},
		{gguf.IQ3_XXS, 18, "IQ3_XXS", 256, 98}, {gguf.IQ1_S, 19, "IQ1_S", 256, 50},
		{gguf.IQ4_NL, 20, "IQ4_NL", 32, 18}, {gguf.IQ3_S, 21, "IQ3_S", 256, 110},
		{gguf.IQ2_S, 22, "IQ2_S", 256, 82}, {gguf.IQ4_XS, 23, "IQ4_XS", 256, 136},
		{gguf.I8, 24, "I8", 1, 1}, {gguf.I16, 25, "I16", 1, 2}, {gguf.I32, 26, "I32", 1, 4},
		{gguf.I64, 27, "I64", 1, 8}, {gguf.F64, 28, "F64", 1, 8},
		{gguf.IQ1_M, 29, "IQ1_M", 256, 56}, {gguf.BF16, 30, "BF16", 1, 2},
		{gguf.TQ1_0, 34, "TQ1_0", 256, 54}, {gguf.TQ2_0, 35, "TQ2_0", 256, 66},
		{gguf.MXFP4, 39, "MXFP4", 32, 17}, {gguf.NVFP4, 40, "NVFP4", 64, 36},
		{gguf.Q1_0, 41, "Q1_0", 128, 18}, {gguf.Q2_0, 42, "Q2_0", 64, 18},
	}
	valid := map[gguf.Type]bool{}
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			assert.EqualValues(t, w.id, w.typ)
			assert.True(t, w.typ.Valid())
			assert.Equal(t, w.name, w.typ.String())
			assert.Equal(t, w.block, w.typ.BlockSize())
			assert.Equal(t, w.size, w.typ.TypeSize())
			assert.Equal(t, w.block > 1 || w.typ == gguf.Q8_K, w.typ.Quantized())
			p, err := gguf.ParseType(strings.ToLower(w.name))
			require.NoError(t, err)
			assert.Equal(t, w.typ, p)
			rs, err := w.typ.RowSize(w.block * 3)
			require.NoError(t, err)
			assert.Equal(t, 3*w.size, rs)
		})
		valid[w.typ] = true
	}
	for id := gguf.Type(0); id < gguf.TypeCount+3; id++ {
		if !valid[id] {
			assert.False(t, id.Valid(), "id %d", id)
			assert.Equal(t, "Type("+strconv.Itoa(int(id))+")", id.String())
			_, err := id.RowSize(32)
			assert.ErrorIs(t, err, gguf.ErrInvalid)
		}
	}
	_, err := gguf.ParseType("q4_2")
	assert.ErrorIs(t, err, gguf.ErrInvalid)
	_, err = gguf.Q4_0.RowSize(33)
	assert.ErrorIs(t, err, gguf.ErrInvalid)
	_, err = gguf.F64.RowSize(math.MaxUint64 / 4)
	assert.ErrorIs(t, err, gguf.ErrInvalid)
	assert.Equal(t, "MOSTLY_Q8_0", gguf.FileTypeMostlyQ8_0.String())
	assert.Equal(t, "MOSTLY_Q4_K_M", gguf.FileType(15).String())
	assert.Equal(t, "FileType(5)", gguf.FileType(5).String())
}

func TestValueAccessors(t *testing.T) {
	v := gguf.NewValue([]string{"a", "b"})
	assert.Equal(t, "ARRAY", v.Type())
	assert.Equal(t, "STRING", v.ElemType())
	assert.True(t, v.IsArray())
	assert.Equal(t, 2, v.Len())
	assert.Equal(t, "b", v.Index(1).Any())
	assert.False(t, v.Index(2).Valid())
	assert.Equal(t, `[STRING×2]{"a", "b"}`, v.String())
	long := gguf.NewValue(make([]uint32, 20))
	assert.Equal(t, "[UINT32×20]{0, 0, 0, 0, 0, 0, 0, 0, …}", long.String())
	assert.Equal(t, "1e-05", gguf.NewValue[float32](1e-5).String())
	assert.Equal(t, "-3", gguf.NewValue[int8](-3).String())
	assert.Equal(t, `"x"`, gguf.NewValue("x").String())
	assert.Equal(t, "<invalid>", gguf.Value{}.String())
	assert.Equal(t, 1, gguf.NewValue[uint64](5).Len())
	assert.Equal(t, 3, gguf.NewValue("abc").Len())
	_, err := gguf.As[uint32](gguf.NewValue[int32](1))
	require.ErrorIs(t, err, gguf.ErrType)
	assert.Contains(t, err.Error(), "value is INT32, not uint32")
	_, err = gguf.As[[]int32](gguf.NewValue[[]uint32](nil))
	assert.Contains(t, err.Error(), "value is ARRAY[UINT32], not []int32")
	x, err := gguf.As[[]uint32](gguf.NewValue[[]uint32](nil))
	require.NoError(t, err)
	assert.NotNil(t, x)
	assert.True(t, gguf.NewValue(float32(math.NaN())).Equal(gguf.NewValue(float32(math.NaN()))))
	assert.False(t, gguf.NewValue[uint32](1).Equal(gguf.NewValue[int32](1)))
}
