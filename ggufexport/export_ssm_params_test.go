package ggufexport

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// TestSSMParams pins the set_gguf_parameters of MambaModel, Mamba2Model
// and JambaModel: their defaults (Python's `x or default`), falcon_mamba's
// dt_b_c_rms, Mamba-2's time_step_rank (d_inner / head_dim) and group
// count, Jamba's per-layer KV head counts (an INT32 array) and "auto"
// dt rank, and the converter's assertions.
func TestSSMParams(t *testing.T) {
	u := func(n uint32) gguf.Value { return gguf.NewValue(n) }
	for _, tc := range []struct {
		name, cfg string
		blocks    int64
		want      map[string]gguf.Value
		err       string
	}{
		{"mamba", `{"model_type": "mamba", "hidden_size": 64, "intermediate_size": 128, "state_size": 8, "conv_kernel": 3,
			"time_step_rank": 5, "layer_norm_epsilon": 1e-6}`, 2, map[string]gguf.Value{
			"mamba.context_length": u(1 << 20), "mamba.embedding_length": u(64), "mamba.feed_forward_length": u(0),
			"mamba.attention.head_count": u(0), "mamba.block_count": u(2), "mamba.ssm.conv_kernel": u(3),
			"mamba.ssm.inner_size": u(128), "mamba.ssm.state_size": u(8), "mamba.ssm.time_step_rank": u(5),
			"mamba.attention.layer_norm_rms_epsilon": gguf.NewValue(float32(1e-6)), "mamba.ssm.dt_b_c_rms": gguf.NewValue(false)}, ""},
		{"mamba defaults", `{"model_type": "mamba", "d_model": 40, "state_size": 0}`, 2, map[string]gguf.Value{
			"mamba.ssm.conv_kernel": u(4), "mamba.ssm.inner_size": u(80), "mamba.ssm.state_size": u(16),
			"mamba.ssm.time_step_rank": u(3), "mamba.attention.layer_norm_rms_epsilon": gguf.NewValue(float32(1e-5))}, ""},
		{"falcon_mamba", `{"model_type": "falcon_mamba", "hidden_size": 64}`, 2, map[string]gguf.Value{
			"mamba.ssm.dt_b_c_rms": gguf.NewValue(true)}, ""},
		{"mamba expansion other than 2", `{"model_type": "mamba", "hidden_size": 64, "intermediate_size": 192}`, 2, nil,
			"d_inner 192 != 2 * d_model 64"},
		{"mamba2", `{"model_type": "mamba2", "hidden_size": 64, "expand": 2, "intermediate_size": 128, "head_dim": 16,
			"n_groups": 2, "state_size": 16, "conv_kernel": 4, "time_step_limit": [0.0, Infinity]}`, 2, map[string]gguf.Value{
			"mamba2.ssm.inner_size": u(128), "mamba2.ssm.time_step_rank": u(8), "mamba2.ssm.group_count": u(2),
			"mamba2.ssm.state_size": u(16), "mamba2.feed_forward_length": u(0)}, ""},
		{"mamba2 defaults", `{"model_type": "mamba2", "hidden_size": 64}`, 2, map[string]gguf.Value{
			"mamba2.ssm.inner_size": u(128), "mamba2.ssm.time_step_rank": u(2), "mamba2.ssm.group_count": u(1),
			"mamba2.ssm.state_size": u(128), "mamba2.ssm.conv_kernel": u(4)}, ""},
		{"mamba2 d_inner not a multiple of head_dim", `{"model_type": "mamba2", "hidden_size": 64, "head_dim": 48}`, 2, nil,
			"a multiple of head_dim"},
		{"jamba", `{"model_type": "jamba", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
			"num_key_value_heads": 2, "attn_layer_offset": 1, "attn_layer_period": 2, "mamba_expand": 2,
			"mamba_dt_rank": "auto", "num_experts": 4, "num_experts_per_tok": 2, "max_position_embeddings": 4096}`, 4,
			map[string]gguf.Value{"jamba.attention.head_count_kv": gguf.NewValue([]int32{0, 2, 0, 2}),
				"jamba.ssm.time_step_rank": u(4), "jamba.ssm.inner_size": u(128), "jamba.ssm.conv_kernel": u(4),
				"jamba.expert_count": u(4), "jamba.expert_used_count": u(2), "jamba.context_length": u(4096),
				"jamba.attention.layer_norm_rms_epsilon": gguf.NewValue(float32(1e-6))}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := pyjson.Parse([]byte(tc.cfg))
			require.NoError(t, err)
			cfg := v.(*pyjson.Object)
			mt, _ := cfg.Get("model_type")
			a := lookupArch(mt.(string))
			require.NotNil(t, a)
			h := newHParams(cfg)
			rope, err := newRopeParams(h)
			require.NoError(t, err)
			m := &metaWriter{Arch: a.Arch, H: h, Rope: rope, BlockCount: tc.blocks}
			err = a.Params(m)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrExport)
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			for k, want := range tc.want {
				got, ok := m.KVs.Lookup(k)
				require.True(t, ok, k)
				assert.True(t, want.Equal(got), "%s: got %v (%s), want %v (%s)", k, got.Any(), got.Type(), want.Any(), want.Type())
			}
		})
	}
}
