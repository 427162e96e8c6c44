package gguf_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/gguf/gguftest"
)

// Shared with ggufexport's tests through package gguftest.
var (
	dumpJSON   = gguftest.DumpJSON
	decodeJSON = gguftest.DecodeJSON
	moduleRoot = gguftest.ModuleRoot
	mustOpen   = gguftest.Open
	readAll    = gguftest.ReadAll
)

// writeFile plans kvs and tensors and writes them sequentially with data from
// fill (nil: deterministic pseudo-random bytes per tensor).
func writeFile(t testing.TB, kvs []gguf.KV, tensors []gguf.TensorInfo) ([]byte, *gguf.Plan) {
	t.Helper()
	p, err := gguf.NewPlan(kvs, tensors)
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := gguf.NewWriter(&buf, p)
	require.NoError(t, err)
	for i, ti := range p.Tensors {
		require.NoError(t, w.WriteTensor(ti.Name, tensorBytes(i, ti)))
	}
	require.NoError(t, w.Close())
	require.EqualValues(t, p.FileSize, buf.Len())
	return buf.Bytes(), p
}

// tensorBytes returns deterministic data for tensor i: valid values for the
// float types (so gguf-py can view them), random bytes otherwise.
func tensorBytes(i int, ti gguf.TensorInfo) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15))
	b := make([]byte, ti.Size)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// sampleKVs has one KV of every value type, scalars and arrays, including
// edge values (empty arrays and strings, NaN and -0 floats, extreme ints).
func sampleKVs() []gguf.KV {
	nan32 := math.Float32frombits(0x7fc00001)
	return []gguf.KV{
		{Key: "general.architecture", Value: gguf.NewValue("llama")},
		{Key: "t.u8", Value: gguf.NewValue[uint8](255)},
		{Key: "t.i8", Value: gguf.NewValue[int8](-128)},
		{Key: "t.u16", Value: gguf.NewValue[uint16](65535)},
		{Key: "t.i16", Value: gguf.NewValue[int16](-32768)},
		{Key: "t.u32", Value: gguf.NewValue[uint32](4294967295)},
		{Key: "t.i32", Value: gguf.NewValue[int32](-2147483648)},
		{Key: "t.f32", Value: gguf.NewValue[float32](1e-5)},
		{Key: "t.f32nan", Value: gguf.NewValue[float32](nan32)},
		{Key: "t.f32negzero", Value: gguf.NewValue(float32(math.Copysign(0, -1)))},
		{Key: "t.bool", Value: gguf.NewValue(true)},
		{Key: "t.boolf", Value: gguf.NewValue(false)},
		{Key: "t.str", Value: gguf.NewValue("héllo ▁world\n")},
		{Key: "t.strempty", Value: gguf.NewValue("")},
		{Key: "t.u64", Value: gguf.NewValue[uint64](math.MaxUint64)},
		{Key: "t.i64", Value: gguf.NewValue[int64](math.MinInt64)},
		{Key: "t.f64", Value: gguf.NewValue[float64](math.Pi)},
		{Key: "a.u8", Value: gguf.NewValue([]uint8{0, 1, 255})},
		{Key: "a.i8", Value: gguf.NewValue([]int8{-1, 0, 127})},
		{Key: "a.u16", Value: gguf.NewValue([]uint16{1, 65535})},
		{Key: "a.i16", Value: gguf.NewValue([]int16{-2, 2})},
		{Key: "a.u32", Value: gguf.NewValue([]uint32{7, 8, 9})},
		{Key: "a.i32", Value: gguf.NewValue([]int32{1, -1, 3, 6})},
		{Key: "a.f32", Value: gguf.NewValue([]float32{0.5, -1, float32(math.Inf(1))})},
		{Key: "a.bool", Value: gguf.NewValue([]bool{true, false, true})},
		{Key: "a.str", Value: gguf.NewValue([]string{"a b", "", "<0x0A>", "日本"})},
		{Key: "a.u64", Value: gguf.NewValue([]uint64{1 << 40})},
		{Key: "a.i64", Value: gguf.NewValue([]int64{-1 << 40})},
		{Key: "a.f64", Value: gguf.NewValue([]float64{1.5, -2.25})},
		{Key: "a.empty", Value: gguf.NewValue[[]int32](nil)},
		{Key: "a.emptystr", Value: gguf.NewValue([]string{})},
	}
}

// sampleTensors covers plain and block types, 0-4 dimensions and sizes that
// are and are not multiples of the alignment.
func sampleTensors() []gguf.TensorInfo {
	return []gguf.TensorInfo{
		{Name: "token_embd.weight", Type: gguf.F16, Shape: []uint64{64, 10}},
		{Name: "blk.0.attn_norm.weight", Type: gguf.F32, Shape: []uint64{7}},
		{Name: "blk.0.attn_q.weight", Type: gguf.Q8_0, Shape: []uint64{64, 3}},
		{Name: "blk.0.attn_k.weight", Type: gguf.Q4_0, Shape: []uint64{32, 1, 2}},
		{Name: "blk.0.attn_v.weight", Type: gguf.Q4_1, Shape: []uint64{32, 3}},
		{Name: "blk.0.ffn_up.weight", Type: gguf.Q5_0, Shape: []uint64{96, 1}},
		{Name: "blk.0.ffn_gate.weight", Type: gguf.Q5_1, Shape: []uint64{32, 2, 1, 2}},
		{Name: "blk.0.ffn_down.weight", Type: gguf.BF16, Shape: []uint64{3, 5}},
		{Name: "blk.0.exps.weight", Type: gguf.MXFP4, Shape: []uint64{64, 2, 3}},
		{Name: "blk.0.q4k.weight", Type: gguf.Q4_K, Shape: []uint64{256, 1}},
		{Name: "scalar", Type: gguf.F32, Shape: []uint64{}},
		{Name: "ints", Type: gguf.I32, Shape: []uint64{5}},
		{Name: "output.weight", Type: gguf.Q6_K, Shape: []uint64{512}},
	}
}

// vocabFixtures returns the golden llama.cpp vocab GGUFs beside the repo
// (../shared/fixtures/llama-vocab relative to the module root).
func vocabFixtures(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "..", "shared", "fixtures", "llama-vocab")
	files, err := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Fatalf("no ggml-vocab-*.gguf in %s: the shared fixtures must be checked out beside the repository (../shared)", dir)
	}
	return files
}

var _ = fmt.Sprintf
