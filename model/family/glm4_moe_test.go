package family

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
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

// TestQwenNextMTPParams: Qwen3-Next/3.5's block_count, nextn_predict_layers
// and recurrent-layer flags count the MTP layers the export has
// (_QwenMtpMixin); a config's mrope_section is written where TextModel
// writes it (before the rope theta), the default last.
func TestQwenNextMTPParams(t *testing.T) {
	const q35 = `{"model_type": "qwen3_5", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
		"num_key_value_heads": 1, "head_dim": 4, "linear_conv_kernel_dim": 2, "linear_key_head_dim": 4, "linear_value_head_dim": 4,
		"linear_num_key_heads": 1, "linear_num_value_heads": 2, "layer_types": ["linear_attention", "full_attention"],
		"rope_parameters": {"rope_theta": 10000.0, "partial_rotary_factor": 0.25%s}}`
	cases := []struct {
		name, cfg string
		f         *model.Family
		has       string
		blocks    uint32
		nextn     uint32 // 0: no nextn_predict_layers KV
		rec       []bool
		sections  string // the key after rope.dimension_sections ("": last)
	}{
		{name: "qwen3_5 with its MTP layer", cfg: fmt.Sprintf(q35, ""), f: Qwen35, has: "language_model.model.layers.2.input_layernorm.weight",
			blocks: 3, nextn: 1, rec: []bool{true, false, false}},
		{name: "qwen3_5 without (mlx-lm output)", cfg: fmt.Sprintf(q35, ""), f: Qwen35, blocks: 2, rec: []bool{true, false}},
		{name: "qwen3_5 with mrope_section", cfg: fmt.Sprintf(q35, `, "mrope_section": [1, 1, 0]`), f: Qwen35, blocks: 2,
			rec: []bool{true, false}, sections: "qwen35.rope.freq_base"},
		{name: "qwen3_next with its MTP layer", cfg: `{"model_type": "qwen3_next", "num_hidden_layers": 2, "full_attention_interval": 2,
			"linear_conv_kernel_dim": 2, "linear_key_head_dim": 4, "linear_value_head_dim": 4, "linear_num_key_heads": 1, "linear_num_value_heads": 2}`,
			f: Qwen3Next, has: "model.layers.2.input_layernorm.weight", blocks: 3, nextn: 1, rec: []bool{true, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := pyjson.Parse([]byte(tc.cfg))
			require.NoError(t, err)
			h := model.NewHParams(v.(*pyjson.Object), HFConfig, "")
			rope, err := model.NewRope(h)
			require.NoError(t, err)
			m := &model.Meta{Arch: tc.f.GGUF.Arch, H: h, Rope: rope, BlockCount: 2, Has: func(n string) bool { return n == tc.has }}
			require.NoError(t, tc.f.GGUF.Params(m))
			b, _ := m.KVs.Lookup(m.ArchKey("block_count"))
			assert.Equal(t, tc.blocks, b.Any())
			n, ok := m.KVs.Lookup(m.ArchKey("nextn_predict_layers"))
			assert.Equal(t, tc.nextn != 0, ok)
			if ok {
				assert.Equal(t, tc.nextn, n.Any())
			}
			r, _ := m.KVs.Lookup(m.ArchKey("attention.recurrent_layers"))
			assert.Equal(t, tc.rec, r.Any())
			if tc.f == Qwen35 {
				i := slices.IndexFunc(m.KVs.List, func(kv gguf.KV) bool { return kv.Key == "qwen35.rope.dimension_sections" })
				require.GreaterOrEqual(t, i, 0)
				next := ""
				if i+1 < len(m.KVs.List) {
					next = m.KVs.List[i+1].Key
				}
				assert.Equal(t, tc.sections, next)
			}
		})
	}
}
