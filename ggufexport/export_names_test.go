package ggufexport

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mlxconv/mlxconv/model"
)

// TestTensorNameBlocksTop: a family's Blocks prefix and Global names map
// GPT-2 style checkpoints; the llama defaults stay for the others, and
// LayerArrays parameters are recognized under the same prefix.
func TestTensorNameBlocksTop(t *testing.T) {
	llama := &archInfo{Layer: model.CommonLayer}
	gpt2 := &archInfo{Blocks: "transformer.h.", Layer: map[string]string{"ln_1": "attn_norm", "attn.c_attn": "attn_qkv"},
		Global: map[string]string{"transformer.wte": "token_embd", "transformer.ln_f": "output_norm", "model.norm": "other_norm"}}
	for _, tc := range []struct {
		a          *archInfo
		name, want string
		bid        int
	}{
		{llama, "model.embed_tokens.weight", "token_embd.weight", -1},
		{llama, "model.norm.weight", "output_norm.weight", -1},
		{llama, "lm_head.bias", "output.bias", -1},
		{llama, "model.layers.3.self_attn.q_proj.bias", "blk.3.attn_q.bias", 3},
		{llama, "transformer.h.0.ln_1.weight", "", -1},
		{llama, "model.layers.01.input_layernorm.weight", "", -1},
		{gpt2, "transformer.wte.weight", "token_embd.weight", -1},
		{gpt2, "transformer.ln_f.bias", "output_norm.bias", -1},
		{gpt2, "model.norm.weight", "other_norm.weight", -1}, // Global wins
		{gpt2, "lm_head.weight", "output.weight", -1},
		{gpt2, "transformer.h.1.attn.c_attn.weight", "blk.1.attn_qkv.weight", 1},
		{gpt2, "transformer.h.1.ln_1.bias", "blk.1.attn_norm.bias", 1},
		{gpt2, "model.layers.1.ln_1.weight", "", -1},
		{gpt2, "transformer.h.x.ln_1.weight", "", -1},
	} {
		got, bid, ok := tensorName(tc.a, tc.name)
		assert.Equal(t, tc.want != "", ok, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
		assert.Equal(t, tc.bid, bid, tc.name)
	}

	xielu := &archInfo{Layer: model.CommonLayer, LayerArrays: map[string]string{"mlp.act_fn.beta": "xielu.beta"}}
	for _, tc := range []struct {
		name, key string
		bid       int
	}{
		{"model.layers.2.mlp.act_fn.beta", "xielu.beta", 2},
		{"model.layers.2.mlp.act_fn.eps", "", -1},
		{"model.norm.beta", "", -1},
		{"beta", "", -1},
	} {
		key, bid, ok := layerArrayKey(xielu, tc.name)
		assert.Equal(t, tc.key != "", ok, tc.name)
		assert.Equal(t, tc.key, key, tc.name)
		assert.Equal(t, tc.bid, bid, tc.name)
	}
}
