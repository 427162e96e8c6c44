package family

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/gguf"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ggufHParams parses a config.json for the GGUF side of family tests.
func ggufHParams(t *testing.T, cfg string) (*model.HParams, *model.Rope) {
	t.Helper()
	v, err := pyjson.Parse([]byte(cfg))
	require.NoError(t, err)
	o, ok := v.(*pyjson.Object)
	require.True(t, ok)
	h := model.NewHParams(o, HFConfig, "")
	rope, err := model.NewRope(h)
	require.NoError(t, err)
	return h, rope
}

// TestLlama3RopeFreqsDefaultFactor: a llama3 rope_scaling without a
// factor gives the low frequencies LlamaModel's 8 and Exaone4Model's 16.
func TestLlama3RopeFreqsDefaultFactor(t *testing.T) {
	const cfg = `{"model_type": "%s", "hidden_size": 64, "num_attention_heads": 4, "head_dim": 16, "num_hidden_layers": 2,
"rope_theta": 1000000.0, "rope_scaling": {"rope_type": "llama3", "original_max_position_embeddings": 64}}`
	for _, tc := range []struct {
		mt    string
		extra func(*model.HParams, *model.Rope) ([]model.ExtraTensor, []gguf.KV, error)
		want  float32
	}{
		{"llama", llamaExtra, 8},
		{"exaone4", exaone4Extra, 16},
	} {
		t.Run(tc.mt, func(t *testing.T) {
			h, rope := ggufHParams(t, fmt.Sprintf(cfg, tc.mt))
			ts, _, err := tc.extra(h, rope)
			require.NoError(t, err)
			require.Len(t, ts, 1)
			assert.Equal(t, "rope_freqs.weight", ts[0].Name)
			require.Len(t, ts[0].Values, 8)
			assert.Equal(t, float32(1), ts[0].Values[0])
			assert.Equal(t, tc.want, ts[0].Values[7])
		})
	}
}

// TestPartialRopeParams: the rope dimensions of Phi2Model/NemotronModel
// (int(f * n_embd) // n_head) and StableLMModel (int(f * head_dim)), and
// NemotronModel's rope scaling type.
func TestPartialRopeParams(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		params    func(*model.Meta) error
		want      map[string]string
	}{
		{"phi", `{"model_type": "phi", "hidden_size": 80, "num_attention_heads": 3, "n_positions": 64, "layer_norm_eps": 1e-5,
"partial_rotary_factor": 0.3}`, phiParams, map[string]string{"phi2.rope.dimension_count": "8", "phi2.feed_forward_length": "320",
			"phi2.attention.head_count_kv": "3", "phi2.context_length": "64"}},
		{"stablelm", `{"model_type": "stablelm", "hidden_size": 80, "num_attention_heads": 3, "num_key_value_heads": 3,
"max_position_embeddings": 64, "intermediate_size": 8, "partial_rotary_factor": 0.3}`, stableLMParams,
			map[string]string{"stablelm.rope.dimension_count": "7", "stablelm.use_parallel_residual": "false"}},
		{"nemotron none", `{"model_type": "nemotron", "hidden_size": 80, "num_attention_heads": 3, "num_hidden_layers": 1,
"partial_rotary_factor": 0.5, "vocab_size": 10}`, nemotronParams,
			map[string]string{"nemotron.rope.dimension_count": "13", "nemotron.rope.scaling.type": "none"}},
		{"nemotron linear", `{"model_type": "nemotron", "hidden_size": 80, "num_attention_heads": 3, "num_hidden_layers": 1,
"partial_rotary_factor": 0.5, "vocab_size": 10, "rope_scaling": {"rope_type": "linear", "factor": 2.0}}`, nemotronParams,
			map[string]string{"nemotron.rope.scaling.type": "linear", "nemotron.rope.scaling.factor": "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rope := ggufHParams(t, tc.cfg)
			m := &model.Meta{Arch: map[string]string{"phi": "phi2"}[tc.name], H: h, Rope: rope, BlockCount: 1}
			if m.Arch == "" {
				m.Arch = strings.Fields(tc.name)[0]
			}
			require.NoError(t, tc.params(m))
			got := map[string]string{}
			for _, kv := range m.KVs.List {
				got[kv.Key] = fmt.Sprint(kv.Value.Any())
			}
			for k, v := range tc.want {
				assert.Equal(t, v, got[k], k)
			}
		})
	}
}

// TestGGUFAliases: mlx-lm's MODEL_REMAPPING aliases of deepseek_v3 export
// as deepseek_v3 (the converter takes their DeepseekV3ForCausalLM), with
// config.json read raw (no transformers config class); helium has no
// converter class and no export.
func TestGGUFAliases(t *testing.T) {
	for _, mt := range []string{"kimi_k2", "joyai_llm_flash"} {
		assert.Same(t, DeepseekV3.GGUF, LookupGGUF(mt), mt)
		assert.Nil(t, HFConfig(mt), mt)
	}
	assert.Nil(t, LookupGGUF("helium"))
}
