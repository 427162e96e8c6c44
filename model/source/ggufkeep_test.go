package source

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/family"
)

// TestGGUFKeepsWhatMLXDrops: the families' GGUF.MLX keep the tensors the
// converter writes and mlx-lm's sanitize drops (GLM's next-n layer,
// ERNIE's router score bias), in the tree only where the checkpoint has
// them.
func TestGGUFKeepsWhatMLXDrops(t *testing.T) {
	const glm = `{"model_type": "glm4_moe", "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16, "max_position_embeddings": 64,
		"moe_intermediate_size": 4, "norm_topk_prob": true, "num_attention_heads": 2, "n_group": 1, "head_dim": 4, "topk_group": 1,
		"n_shared_experts": 1, "n_routed_experts": 2, "routed_scaling_factor": 1.0, "num_experts_per_tok": 1, "first_k_dense_replace": 1,
		"num_hidden_layers": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-5, "rope_theta": 1e4, "rope_scaling": null,
		"use_qk_norm": false, "tie_word_embeddings": false, "attention_bias": false, "partial_rotary_factor": 0.5,
		"num_nextn_predict_layers": 1}`
	const ernie = `{"model_type": "ernie4_5_moe", "hidden_size": 8, "intermediate_size": 16, "max_position_embeddings": 64,
		"num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 2, "rms_norm_eps": 1e-5, "vocab_size": 16,
		"rope_theta": 1e4, "use_bias": false, "tie_word_embeddings": false, "moe_num_experts": 2, "moe_layer_start_index": 1,
		"moe_intermediate_size": 4}`
	mtp := []string{"model.layers.2.eh_proj.weight", "model.layers.2.enorm.weight", "model.layers.2.mlp.experts.0.gate_proj.weight",
		"model.layers.2.mlp.experts.1.gate_proj.weight"}
	bias := []string{"model.layers.1.mlp.moe_statics.e_score_correction_bias", "model.mtp_block.0.mlp.up_proj.weight"}
	cases := []struct {
		name, cfg string
		f         *model.Family
		gguf      bool
		in        []string
		names     []string // the checkpoint after the sanitize
		module    string   // a module the tree has exactly when wantMod
		wantMod   bool
	}{
		{name: "glm4_moe mlx drops the next-n layer", cfg: glm, f: family.Glm4MoE, in: mtp, module: "model.layers.2.eh_proj"},
		{name: "glm4_moe gguf keeps it, experts stacked", cfg: glm, f: family.Glm4MoE, gguf: true, in: mtp, module: "model.layers.2.eh_proj",
			wantMod: true, names: []string{"model.layers.2.eh_proj.weight", "model.layers.2.enorm.weight", "model.layers.2.mlp.switch_mlp.gate_proj.weight"}},
		{name: "glm4_moe gguf without next-n tensors", cfg: glm, f: family.Glm4MoE, gguf: true, module: "model.layers.2.eh_proj"},
		{name: "ernie4_5_moe mlx drops the score bias", cfg: ernie, f: family.Ernie45MoE, in: bias, module: "model.layers.1.mlp.moe_statics"},
		{name: "ernie4_5_moe gguf keeps it, MTP dropped", cfg: ernie, f: family.Ernie45MoE, gguf: true, in: bias, wantMod: true,
			module: "model.layers.1.mlp.moe_statics", names: bias[:1]},
		{name: "ernie4_5_moe gguf without it", cfg: ernie, f: family.Ernie45MoE, gguf: true, module: "model.layers.1.mlp.moe_statics"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := model.ParseObject([]byte(tc.cfg))
			require.NoError(t, err)
			c := newConfig(obj, "config.json")
			x := &tc.f.MLX
			if tc.gguf {
				x = tc.f.GGUF.MLX
			}
			base := []string{"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"} // room for the expert counts
			var src []SourceTensor
			for _, n := range append(slices.Clone(base), tc.in...) {
				src = append(src, SourceTensor{Name: n, DType: mlx.F32, Shape: []int{1, 2}})
			}
			ts := tensorView{newTensorSet(src)}
			tree, err := x.Build(c, ts)
			require.NoError(t, err)
			require.NoError(t, x.SanitizeTensors(tree, c, ts))
			assert.Equal(t, append(base, tc.names...), ts.Names())
			has := slices.ContainsFunc(tree.Modules, func(m model.Module) bool { return m.Path == tc.module })
			assert.Equal(t, tc.wantMod, has)
		})
	}
}
