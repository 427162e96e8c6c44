package ggufexport

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// exportMetaKVs is exportMetaErr returning the architecture's KVs.
func exportMetaKVs(t *testing.T, cfgJSON string) (map[string]gguf.Value, error) {
	t.Helper()
	v, err := pyjson.Parse([]byte(cfgJSON))
	require.NoError(t, err)
	cfg := v.(*pyjson.Object)
	mt, _ := cfg.Get("model_type")
	a := lookupArch(mt.(string))
	require.NotNil(t, a, mt)
	h := newHParams(cfg)
	rope, err := newRopeParams(h)
	if err != nil {
		return nil, err
	}
	m := &metaWriter{Arch: a.Arch, H: h, Rope: rope, BlockCount: 3}
	if err := a.Params(m); err != nil {
		return nil, err
	}
	out := map[string]gguf.Value{}
	for _, kv := range m.KVs.List {
		out[kv.Key] = kv.Value
	}
	return out, nil
}

// TestHunyuanGptOssParams pins the set_gguf_parameters of hunyuan-moe,
// hunyuan-dense and gpt-oss to what the pinned convert_hf_to_gguf.py wrote
// for the same configs (the NTK-alpha base 10000 * alpha^(d/(d-2)) as
// float32, the 256k context, the per-layer lists' first values) and to its
// refusals (unequal per-layer lists, a scalar where it indexes a list, the
// HunYuan rope assumptions).
func TestHunyuanGptOssParams(t *testing.T) {
	rope := `"rope_theta": 10000.0, "rope_scaling": {"alpha": 1000.0, "factor": 1.0, "type": "dynamic"}, "max_position_embeddings": 32768`
	moe := func(dims, lists string) string {
		return `{"model_type": "hunyuan", "num_hidden_layers": 3, "intermediate_size": 64, "rms_norm_eps": 1e-5, "num_experts": 4, ` +
			rope + `, ` + dims + `, ` + lists + `}`
	}
	moeDims := `"hidden_size": 256, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 128`
	moeLists := `"moe_intermediate_size": [64, 64, 64], "moe_topk": [2, 2, 2], "num_shared_expert": [1, 1, 1]`
	dense := `{"model_type": "hunyuan_v1_dense", "num_hidden_layers": 3, "hidden_size": 64, "intermediate_size": 224,
		"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-5, ` + rope + `}`
	gptOss := `{"model_type": "gpt_oss", "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 64, "head_dim": 16,
		"num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 128,
		"max_position_embeddings": 4096, "rope_theta": 150000.0, "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
		"original_max_position_embeddings": 4096, "rope_type": "yarn", "truncate": false}}`
	cases := []struct {
		name, cfg string
		want      map[string]any // key -> value (uint32 or float32 or string)
		err       string
	}{
		{name: "hunyuan-moe", cfg: moe(moeDims, moeLists), want: map[string]any{
			"hunyuan-moe.rope.freq_base": float32(11158840.0), "hunyuan-moe.context_length": uint32(262144),
			"hunyuan-moe.rope.scaling.original_context_length": uint32(262144), "hunyuan-moe.rope.scaling.type": "none",
			"hunyuan-moe.rope.scaling.factor": float32(1), "hunyuan-moe.expert_feed_forward_length": uint32(64),
			"hunyuan-moe.expert_used_count": uint32(2), "hunyuan-moe.expert_shared_count": uint32(1),
			"hunyuan-moe.expert_shared_feed_forward_length": uint32(64), "hunyuan-moe.expert_count": uint32(4)}},
		{name: "hunyuan-moe unequal top-k", cfg: moe(moeDims, `"moe_intermediate_size": [64, 64, 64], "moe_topk": [2, 1, 2], "num_shared_expert": [1, 1, 1]`),
			err: "moe_topk has unequal"},
		{name: "hunyuan-moe scalar top-k", cfg: moe(moeDims, `"moe_intermediate_size": [64, 64, 64], "moe_topk": 2, "num_shared_expert": [1, 1, 1]`),
			err: "want a per-layer list"},
		{name: "hunyuan-moe head dim 16", cfg: moe(`"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2`, moeLists),
			err: "assumptions changed"},
		{name: "hunyuan-dense", cfg: dense, want: map[string]any{
			"hunyuan-dense.rope.freq_base": float32(26826958.0), "hunyuan-dense.context_length": uint32(262144),
			"hunyuan-dense.rope.scaling.original_context_length": uint32(262144), "hunyuan-dense.rope.scaling.type": "none"}},
		{name: "gpt-oss", cfg: gptOss, want: map[string]any{
			"gpt-oss.attention.sliding_window": uint32(128), "gpt-oss.expert_feed_forward_length": uint32(64),
			"gpt-oss.rope.scaling.type": "yarn", "gpt-oss.rope.scaling.factor": float32(32), "gpt-oss.expert_used_count": uint32(2)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kvs, err := exportMetaKVs(t, tc.cfg)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorIs(t, err, ErrExport)
				return
			}
			require.NoError(t, err)
			for k, want := range tc.want {
				got, ok := kvs[k]
				require.True(t, ok, "missing %s", k)
				var w gguf.Value
				switch x := want.(type) {
				case uint32:
					w = gguf.NewValue(x)
				case float32:
					w = gguf.NewValue(x)
				case string:
					w = gguf.NewValue(x)
				}
				require.Equal(t, w, got, k)
			}
		})
	}
}
