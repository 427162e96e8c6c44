package ggufexport_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/ggufexport"
	"github.com/mlxconv/mlxconv/mlx"
)

// TestDropTiedHead: HunYuan's converter skips a checkpoint's lm_head.weight
// when tie_word_embeddings is true (archInfo.DropTiedHead); an untied head
// is written, and so is a tied one for the architectures without the rule
// (TextModel writes what the checkpoint has).
func TestDropTiedHead(t *testing.T) {
	dense := func(tie bool) fxModel {
		m := fxModel{arch: "hunyuan_v1_dense", config: map[string]any{"model_type": "hunyuan_v1_dense",
			"architectures": []string{"HunYuanDenseV1ForCausalLM"}, "hidden_size": fxHidden, "intermediate_size": fxInter,
			"num_attention_heads": fxHeads, "num_key_value_heads": fxKV, "head_dim": fxHeadDim, "num_hidden_layers": fxLayers,
			"vocab_size": fxVocab, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": tie}}
		add := func(name string, shape ...int) {
			m.tensors = append(m.tensors, fxTensor{name: name, dtype: mlx.BF16, shape: shape})
		}
		add("model.embed_tokens.weight", fxVocab, fxHidden)
		add("model.norm.weight", fxHidden)
		add("lm_head.weight", fxVocab, fxHidden)
		for l := 0; l < fxLayers; l++ {
			p := "model.layers." + strconv.Itoa(l) + "."
			add(p+"input_layernorm.weight", fxHidden)
			add(p+"post_attention_layernorm.weight", fxHidden)
			add(p+"self_attn.q_proj.weight", fxHeads*fxHeadDim, fxHidden)
			add(p+"self_attn.k_proj.weight", fxKV*fxHeadDim, fxHidden)
			add(p+"self_attn.v_proj.weight", fxKV*fxHeadDim, fxHidden)
			add(p+"self_attn.o_proj.weight", fxHidden, fxHeads*fxHeadDim)
			add(p+"self_attn.query_layernorm.weight", fxHeadDim)
			add(p+"self_attn.key_layernorm.weight", fxHeadDim)
			add(p+"mlp.gate_proj.weight", fxInter, fxHidden)
			add(p+"mlp.up_proj.weight", fxInter, fxHidden)
			add(p+"mlp.down_proj.weight", fxHidden, fxInter)
		}
		return m
	}
	for _, tc := range []struct {
		name string
		tie  bool
		want bool // output.weight written
	}{
		{"tied: skipped", true, false},
		{"untied: written", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writeFx(t, dense(tc.tie))
			p := planFx(t, dir, ggufexport.ExportOptions{OutType: ggufexport.OutF16})
			has := false
			for _, tt := range p.Tensors {
				has = has || tt.Name == "output.weight"
			}
			require.Equal(t, tc.want, has)
		})
	}
}
