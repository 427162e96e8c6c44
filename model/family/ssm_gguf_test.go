package family

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

func ssmHParams(t *testing.T, js string) *model.HParams {
	t.Helper()
	v, err := pyjson.Parse([]byte(js))
	require.NoError(t, err)
	return model.NewHParams(v.(*pyjson.Object), func(string) *model.HFConfig { return nil }, "")
}

// TestSSMGGUFHelpers: the converters' readings of the hybrid configs
// (LFM2Model's feed-forward size, NemotronHModel's architecture and layer
// kinds, the hybrids' mamba_ prefixed keys).
func TestSSMGGUFHelpers(t *testing.T) {
	ff := []struct {
		name, config string
		want         int64
	}{
		{"auto-adjusted with multiplier", `{"block_ff_dim": 192, "block_auto_adjust_ff_dim": true, "block_ffn_dim_multiplier": 1.0, "block_multiple_of": 32}`, 128},
		{"multiplier null", `{"block_ff_dim": 100, "block_auto_adjust_ff_dim": true, "block_ffn_dim_multiplier": null, "block_multiple_of": 32}`, 96},
		{"intermediate_size, not adjusted", `{"intermediate_size": 100, "block_auto_adjust_ff_dim": false}`, 100},
	}
	for _, tc := range ff {
		t.Run("lfm2 ff "+tc.name, func(t *testing.T) {
			got, err := lfm2FFHP(ssmHParams(t, tc.config))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := lfm2FFHP(ssmHParams(t, `{"block_ff_dim": 100}`))
	assert.ErrorIs(t, err, model.ErrExport)

	layers := []struct {
		name, config string
		arch         string
		attn, mlp    []bool
	}{
		{"MoE string pattern", `{"hybrid_override_pattern": "M*E-", "num_experts_per_tok": 2}`, "nemotron_h_moe",
			[]bool{false, true, false, false}, []bool{false, false, true, false}},
		{"dense string pattern", `{"hybrid_override_pattern": "M*E-"}`, "nemotron_h",
			[]bool{false, true, false, false}, []bool{false, false, false, true}},
		{"transformers-5 list: only moe layers count", `{"layers_block_type": ["mamba", "full_attention", "mlp", "moe"], "num_experts_per_tok": null}`,
			"nemotron_h_moe", []bool{false, true, false, false}, []bool{false, false, false, true}},
	}
	for _, tc := range layers {
		t.Run("nemotron_h "+tc.name, func(t *testing.T) {
			h := ssmHParams(t, tc.config)
			assert.Equal(t, tc.arch, nemotronHArch(h))
			attn, mlp, err := nemotronHLayers(h, h.Has("num_experts_per_tok"))
			require.NoError(t, err)
			assert.Equal(t, tc.attn, attn)
			assert.Equal(t, tc.mlp, mlp)
		})
	}
	assert.Equal(t, []string{"n_groups", "num_groups", "mamba_n_groups", "mamba_num_groups"}, mambaKeys("n_groups", "num_groups"))
}
