package gguf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
)

// TestGGUFPyFixture reads a small model-like file written by gguf-py 0.19.0
// (testdata/gguf-py.gguf, from scripts/oracle/gguf_check.py fixture): its
// metadata, its tensors, its quantized data against our quantizers, and a
// byte-identical rewrite.
func TestGGUFPyFixture(t *testing.T) {
	path := filepath.Join("testdata", "gguf-py.gguf")
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	f := mustOpen(t, path)

	for key, want := range map[string]any{
		"general.architecture":                   "llama",
		"general.name":                           "tiny",
		"llama.context_length":                   uint32(128),
		"llama.rope.freq_base":                   float32(10000),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"general.file_type":                      uint32(gguf.FileTypeMostlyQ8_0),
		"tokenizer.ggml.tokens":                  []string{"<unk>", "<s>", "</s>", "\u2581a"},
		"tokenizer.ggml.scores":                  []float32{0, 0, 0, -1.5},
		"tokenizer.ggml.token_type":              []int32{2, 3, 3, 1},
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.add_bos_token":           true,
		"general.quantization_version":           uint32(2),
	} {
		v, ok := f.Lookup(key)
		require.True(t, ok, key)
		assert.Equal(t, want, v.Any(), key)
	}
	assert.Equal(t, "general.architecture", f.KVs()[0].Key, "gguf-py writes the architecture first")

	// x = (arange(256) - 100) / 37 as float32, shape (4, 64).
	x := make([]float32, 256)
	for i := range x {
		x[i] = (float32(i) - 100) / 37
	}
	want := map[string]gguf.Type{
		"token_embd.weight": gguf.F16, "blk.0.bf16.weight": gguf.BF16, "blk.0.q8_0.weight": gguf.Q8_0,
		"blk.0.q4_0.weight": gguf.Q4_0, "blk.0.q4_1.weight": gguf.Q4_1, "blk.0.q5_0.weight": gguf.Q5_0,
		"blk.0.q5_1.weight": gguf.Q5_1,
	}
	require.Len(t, f.Tensors, len(want)+1)
	for name, typ := range want {
		ti, ok := f.Tensor(name)
		require.True(t, ok, name)
		assert.Equal(t, typ, ti.Type, name)
		assert.Equal(t, []uint64{64, 4}, ti.Shape, name)
		q, err := gguf.AppendQuantize(nil, typ, x)
		require.NoError(t, err)
		assert.Equal(t, q, readAll(t, f, name), "%s: our %s quantization differs from gguf-py's", name, typ)
	}
	norm, ok := f.Tensor("output_norm.weight")
	require.True(t, ok)
	assert.Equal(t, gguf.F32, norm.Type)
	assert.Equal(t, []uint64{64}, norm.Shape)

	p, err := gguf.NewPlan(f.KVs(), f.Tensors)
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := gguf.NewWriter(&buf, p)
	require.NoError(t, err)
	for _, ti := range p.Tensors {
		require.NoError(t, w.WriteTensor(ti.Name, readAll(t, f, ti.Name)))
	}
	require.NoError(t, w.Close())
	assert.True(t, bytes.Equal(orig, buf.Bytes()), "rewrite differs from gguf-py's file")
}
