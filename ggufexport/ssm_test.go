package ggufexport

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// TestNegExp: A = -exp(A_log) in float32 (correctly rounded, as torch's
// scalar exp on the few per-head values), a float16 source rounded back
// to float16.
func TestNegExp(t *testing.T) {
	tests := []struct {
		name string
		dt   mlx.DType
		in   []float32
		want []float32
	}{
		{"zero and one", mlx.F32, []float32{0, 1}, []float32{-1, -float32(math.E)}},
		{"log of 8", mlx.BF16, []float32{float32(math.Log(8))}, []float32{-8}},
		{"float16 rounding", mlx.F16, []float32{1}, []float32{npfloat.F16ToF32(npfloat.F32ToF16(-float32(math.E)))}},
		{"large", mlx.F32, []float32{-20, 20}, []float32{-float32(math.Exp(-20)), -float32(math.Exp(20))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := append([]float32(nil), tc.in...)
			negExp(x, tc.dt)
			assert.Equal(t, tc.want, x)
		})
	}
}

func TestRuleKey(t *testing.T) {
	for in, want := range map[string]string{"blk.12.ssm_a": "ssm_a", "blk.0.ssm_conv1d.weight": "ssm_conv1d.weight",
		"token_embd.weight": "token_embd.weight", "blk.x": "blk.x"} {
		assert.Equal(t, want, ruleKey(in), in)
	}
}

// TestSplitParts: GGUF.Splits cuts a layer's tensor into byte ranges of
// its source along the first axis, float and MLX-quantized alike; other
// names and tensors that do not split are left alone.
func TestSplitParts(t *testing.T) {
	a := &archInfo{Splits: map[string][]string{"shared_mlp.input_linear": {"ffn_gate_shexp", "ffn_up_shexp"}}}
	cl := &candidateList{arch: a}
	direct := func(name string, dt mlx.DType, shape ...int) *source.Input {
		return &source.Input{Name: name, DType: dt, Shape: shape, Op: source.OpDirect,
			Sources: []source.SourceTensor{{Name: name, DType: dt, Shape: shape, Offset: 8}}}
	}
	src := "model.layers.3.shared_mlp.input_linear.weight"
	parts, ok := cl.splitParts(src, candidate{float: direct(src, mlx.BF16, 4, 6), shape: []int{4, 6}})
	require.True(t, ok)
	require.Len(t, parts, 2)
	assert.Equal(t, "blk.3.ffn_gate_shexp.weight", parts[0].name)
	assert.Equal(t, "blk.3.ffn_up_shexp.weight", parts[1].name)
	assert.Equal(t, 3, parts[1].bid)
	assert.Equal(t, []int{2, 6}, parts[1].shape)
	assert.Equal(t, int64(8+2*6*2), parts[1].float.Sources[0].Offset)
	assert.Equal(t, []int{2, 6}, parts[1].float.Sources[0].Shape)

	q := &source.Module{Quant: &mlx.QuantParams{Bits: 4, GroupSize: 64, Mode: mlx.Affine},
		Weight: direct("w", mlx.U32, 4, 16), Scales: direct("s", mlx.BF16, 4, 2), Biases: direct("b", mlx.BF16, 4, 2)}
	parts, ok = cl.splitParts(src, candidate{quant: q, shape: []int{4, 128}})
	require.True(t, ok)
	require.Len(t, parts, 2)
	assert.Equal(t, int64(8+2*16*4), parts[1].quant.Weight.Sources[0].Offset)
	assert.Equal(t, int64(8+2*2*2), parts[1].quant.Biases.Sources[0].Offset)
	assert.Equal(t, int64(8), parts[0].quant.Scales.Sources[0].Offset)
	assert.Equal(t, 4, q.Weight.Shape[0], "the source module is not changed")

	_, ok = cl.splitParts("model.layers.3.mlp.up_proj.weight", candidate{float: direct("x", mlx.BF16, 4, 6), shape: []int{4, 6}})
	assert.False(t, ok)
	_, ok = cl.splitParts(src, candidate{float: direct(src, mlx.BF16, 3, 6), shape: []int{3, 6}})
	assert.True(t, ok)
	assert.Equal(t, []string{src}, cl.unmapped, "an odd row count is reported, not cut")
}

func TestBlockCountAndPadVocab(t *testing.T) {
	cfg, err := pyjson.Parse([]byte(`{"num_hidden_layers": 4, "layers_block_type": ["mamba", "attention", "moe"], "vocab_size": 100}`))
	require.NoError(t, err)
	h := model.NewHParams(cfg.(*pyjson.Object), func(string) *model.HFConfig { return nil }, "")
	n, err := blockCountOf(&archInfo{}, h)
	require.NoError(t, err)
	assert.Equal(t, int64(4), n)
	n, err = blockCountOf(&archInfo{LayerList: "layers_block_type"}, h)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	n, err = blockCountOf(&archInfo{LayerList: "absent"}, h)
	require.NoError(t, err)
	assert.Equal(t, int64(4), n)

	v, err := padVocab(&archInfo{VocabPad: model.PadVocab(8, false)}, h, 100)
	require.NoError(t, err)
	assert.Equal(t, 104, v)
	v, err = padVocab(&archInfo{}, h, 100)
	require.NoError(t, err)
	assert.Equal(t, 100, v)
}
