package family

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// TestGlmNextNParams: the next-n (MTP) layers count as blocks, with
// nextn_predict_layers, only where the exported model has the first of
// them (a GLM-4.5 checkpoint; an mlx-lm output has none).
func TestGlmNextNParams(t *testing.T) {
	const glm = `{"model_type": "glm4_moe", "num_hidden_layers": 3, "num_nextn_predict_layers": 1, "hidden_size": 64,
		"num_attention_heads": 4, "head_dim": 16, "n_routed_experts": 4, "moe_intermediate_size": 32, "norm_topk_prob": false}`
	const lite = `{"model_type": "glm4_moe_lite", "num_hidden_layers": 3, "num_nextn_predict_layers": 2, "hidden_size": 64,
		"num_attention_heads": 4, "n_routed_experts": 4, "moe_intermediate_size": 32, "kv_lora_rank": 32, "q_lora_rank": 48,
		"qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32, "vocab_size": 64}`
	cases := []struct {
		name, cfg string
		f         *model.Family
		has       []string
		blocks    uint32
		nextn     uint32 // 0: no nextn_predict_layers KV
	}{
		{name: "glm4_moe with its MTP layer", cfg: glm, f: Glm4MoE, has: []string{"model.layers.3.eh_proj.weight"}, blocks: 4, nextn: 1},
		{name: "glm4_moe without (mlx-lm output)", cfg: glm, f: Glm4MoE, blocks: 3},
		{name: "glm4_moe, another layer's eh_proj", cfg: glm, f: Glm4MoE, has: []string{"model.layers.2.eh_proj.weight"}, blocks: 3},
		{name: "glm4_moe_lite with its MTP layers", cfg: lite, f: Glm4MoELite, has: []string{"model.layers.3.eh_proj.weight"}, blocks: 5, nextn: 2},
		{name: "glm4_moe_lite without", cfg: lite, f: Glm4MoELite, blocks: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := pyjson.Parse([]byte(tc.cfg))
			require.NoError(t, err)
			h := model.NewHParams(v.(*pyjson.Object), HFConfig, "")
			rope, err := model.NewRope(h)
			require.NoError(t, err)
			m := &model.Meta{Arch: tc.f.GGUF.Arch, H: h, Rope: rope, BlockCount: 3,
				Has: func(n string) bool { return len(tc.has) > 0 && tc.has[0] == n }}
			require.NoError(t, tc.f.GGUF.Params(m))
			b, ok := m.KVs.Lookup(m.ArchKey("block_count"))
			require.True(t, ok)
			assert.Equal(t, tc.blocks, b.Any())
			n, ok := m.KVs.Lookup(m.ArchKey("nextn_predict_layers"))
			assert.Equal(t, tc.nextn != 0, ok)
			if ok {
				assert.Equal(t, tc.nextn, n.Any())
			}
		})
	}
}
