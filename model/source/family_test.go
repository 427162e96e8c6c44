package source

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/family"
)

// denseBase is a config every dense decoder accepts.
const denseBase = `"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 96, "num_attention_heads": 4,
	"rms_norm_eps": 1e-5, "vocab_size": 50, "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 128,
	"tie_word_embeddings": false, "rope_theta": 10000`

// granite is the keys granite requires beyond denseBase.
const granite = `"logits_scaling": 8, "attention_multiplier": 0.01, "embedding_multiplier": 12, "residual_multiplier": 0.2,
	"attention_bias": false, "mlp_bias": false`

// ministral3Rope is the rope_parameters ministral3 reads.
const ministral3Rope = `"rope_parameters": {"llama_4_scaling_beta": 0.1, "original_max_position_embeddings": 64, "rope_theta": 1}`

// apertus is the keys apertus requires beyond denseBase.
const apertus = `"mlp_bias": false, "attention_bias": true, "post_norm": false, "qk_norm": true`

// TestDenseArchs pins the per-model quirks of the dense decoder table.
func TestDenseArchs(t *testing.T) {
	cases := []struct {
		name, arch, extra string
		err               string         // error substring; "" for success
		layers            int            // numLayers
		shapes            map[string]any // module path -> its params, or nil when it must be absent
	}{
		{name: "llama head_dim 0 is hidden/heads", arch: "llama", extra: `"head_dim": 0`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.q_proj": "[{weight [64 64]}]"}},
		{name: "llama head_dim absent", arch: "llama", extra: `"head_dim": null`, layers: 2,
			shapes: map[string]any{"model.layers.1.self_attn.k_proj": "[{weight [32 64]}]"}},
		{name: "llama layer_types overrides the layer count", arch: "llama", extra: `"layer_types": ["a", "b", "c"]`, layers: 3},
		{name: "llama layer_types too long", arch: "llama",
			extra: `"layer_types": [` + strings.Repeat("0,", model.MaxLayers) + `0]`, err: `"layer_types" has 65537 entries, too many`},
		{name: "llama head_dim error before kv heads", arch: "llama", extra: `"head_dim": "x", "num_key_value_heads": "x"`,
			err: `"head_dim" is the string "x"`},
		{name: "qwen3 kv heads error before head_dim", arch: "qwen3", extra: `"head_dim": "x", "num_key_value_heads": "x"`,
			err: `"num_key_value_heads" is the string "x"`},
		{name: "llama kv heads default to heads", arch: "llama", extra: `"num_key_value_heads": null`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.v_proj": "[{weight [32 64]}]"}},
		{name: "qwen2 kv heads required", arch: "qwen2", extra: `"num_key_value_heads": null`,
			err: `"num_key_value_heads" is missing (required)`},
		{name: "llama attention_bias on q/k/v and o, mlp_bias", arch: "llama", extra: `"attention_bias": true, "mlp_bias": 1`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.o_proj": "[{weight [64 32]} {bias [64]}]",
				"model.layers.0.mlp.up_proj": "[{weight [96 64]} {bias [96]}]"}},
		{name: "qwen2 bias on q/k/v only, head_dim not read", arch: "qwen2", extra: `"head_dim": "x"`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.k_proj": "[{weight [32 64]} {bias [32]}]",
				"model.layers.0.self_attn.o_proj": "[{weight [64 64]}]"}},
		{name: "llama tied by default", arch: "llama", extra: `"tie_word_embeddings": "MISSING"`, layers: 2,
			shapes: map[string]any{"lm_head": nil}},
		{name: "phi3 untied by default", arch: "phi3", extra: `"tie_word_embeddings": "MISSING"`, layers: 2,
			shapes: map[string]any{"lm_head": "[{weight [50 64]}]",
				"model.layers.0.self_attn.qkv_proj": "[{weight [128 64]}]", "model.layers.0.mlp.gate_up_proj": "[{weight [192 64]}]"}},
		{name: "qwen3 needs tie_word_embeddings", arch: "qwen3", extra: `"tie_word_embeddings": "MISSING"`,
			err: `"tie_word_embeddings" is missing (required by the model)`},
		{name: "qwen3 q/k norms over head_dim", arch: "qwen3", layers: 2,
			shapes: map[string]any{"model.layers.1.self_attn.k_norm": "[{weight [8]}]", "lm_head": "[{weight [50 64]}]"}},
		{name: "qwen3 rope_theta missing", arch: "qwen3", extra: `"rope_theta": null, "rope_parameters": {"rope_type": "default"}`,
			err: `"rope_theta" is missing from the model config`},
		{name: "qwen3 rope_theta in rope_parameters", arch: "qwen3", extra: `"rope_theta": "MISSING", "rope_parameters": {"rope_theta": 5}`,
			layers: 2},
		{name: "gemma never has lm_head, tie not read", arch: "gemma", extra: `"tie_word_embeddings": "x"`, layers: 2,
			shapes: map[string]any{"lm_head": nil, "model.layers.0.post_attention_layernorm": "[{weight [64]}]"}},
		{name: "gemma2 four norms", arch: "gemma2", layers: 2,
			shapes: map[string]any{"model.layers.1.pre_feedforward_layernorm": "[{weight [64]}]"}},
		{name: "smollm3 is llama with no_rope_layers", arch: "smollm3", extra: `"no_rope_layers": [1, 0]`, layers: 2,
			shapes: map[string]any{"lm_head": "[{weight [50 64]}]", "model.layers.0.self_attn.q_norm": nil}},
		{name: "smollm3 no_rope_layers one a layer", arch: "smollm3", extra: `"no_rope_layers": [1]`,
			err: `"no_rope_layers" has 1 entries for 2 layers`},
		{name: "smollm3 no_rope_layer_interval 0", arch: "smollm3", extra: `"no_rope_layer_interval": 0`,
			err: `"no_rope_layer_interval" is 0`},
		{name: "olmo2 q/k norms over all heads, post norms", arch: "olmo2", layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.q_norm": "[{weight [32]}]", "model.layers.0.self_attn.k_norm": "[{weight [16]}]",
				"model.layers.0.post_feedforward_layernorm": "[{weight [64]}]", "model.layers.0.input_layernorm": nil}},
		{name: "olmo2 tied by default", arch: "olmo2", extra: `"tie_word_embeddings": "MISSING"`, layers: 2,
			shapes: map[string]any{"lm_head": nil}},
		{name: "granite head_dim from hidden, biases", arch: "granite", extra: granite + `, "attention_bias": true`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.o_proj": "[{weight [64 64]} {bias [64]}]"}},
		{name: "granite needs its multipliers", arch: "granite", extra: `"attention_bias": false, "mlp_bias": false`,
			err: `"logits_scaling" is missing (required by the model)`},
		{name: "seed_oss q/k/v bias without o_proj bias", arch: "seed_oss", extra: `"attention_bias": true, "tie_word_embeddings": "MISSING"`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.v_proj": "[{weight [16 64]} {bias [16]}]",
				"model.layers.0.self_attn.o_proj": "[{weight [64 32]}]", "lm_head": nil}},
		{name: "seed_oss o_proj bias alone", arch: "seed_oss", extra: `"attention_out_bias": true, "tie_word_embeddings": false`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.q_proj": "[{weight [32 64]}]",
				"model.layers.0.self_attn.o_proj": "[{weight [64 32]} {bias [64]}]", "lm_head": "[{weight [50 64]}]"}},
		{name: "seed_oss needs head_dim", arch: "seed_oss", extra: `"head_dim": "MISSING"`,
			err: `"head_dim" is missing (required by the model)`},
		{name: "internlm3 qkv_bias on all four, bias on the MLP, head_dim from hidden", arch: "internlm3",
			extra: `"qkv_bias": true, "bias": true, "tie_word_embeddings": "MISSING"`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.o_proj": "[{weight [64 64]} {bias [64]}]",
				"model.layers.0.mlp.down_proj": "[{weight [64 96]} {bias [64]}]", "lm_head": "[{weight [50 64]}]"}},
		{name: "internlm3 rope_scaling keys", arch: "internlm3", extra: `"rope_scaling": {"factor": 2}`,
			err: `"rope_scaling" has no "rope_type"`},
		{name: "internlm3 rope_scaling type", arch: "internlm3", extra: `"rope_scaling": {"factor": 2, "rope_type": "yarn"}`,
			err: `rope_type is the string "yarn", want linear or dynamic`},
		{name: "hunyuan query/key layernorms over head_dim", arch: "hunyuan_v1_dense", layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.query_layernorm": "[{weight [8]}]",
				"model.layers.0.self_attn.key_layernorm": "[{weight [8]}]", "model.layers.0.self_attn.q_norm": nil}},
		{name: "hunyuan use_qk_norm false", arch: "hunyuan_v1_dense", extra: `"use_qk_norm": false`, layers: 2,
			shapes: map[string]any{"model.layers.0.self_attn.query_layernorm": nil}},
		{name: "hunyuan rope_scaling keys", arch: "hunyuan_v1_dense", extra: `"rope_scaling": {"alpha": 2, "factor": 1}`,
			err: `"rope_scaling" has no "type"`},
		{name: "ministral3 no biases, tied by default", arch: "ministral3", extra: ministral3Rope + `, "tie_word_embeddings": "MISSING", "attention_bias": true`,
			layers: 2, shapes: map[string]any{"model.layers.0.self_attn.q_proj": "[{weight [32 64]}]", "lm_head": nil}},
		{name: "ministral3 layer_types count", arch: "ministral3", extra: ministral3Rope + `, "layer_types": ["full_attention", "sliding_attention", "full_attention"]`,
			layers: 3},
		{name: "ministral3 needs a full_attention layer", arch: "ministral3", extra: ministral3Rope + `, "layer_types": ["sliding_attention"]`,
			err: `"layer_types" has no "full_attention" entry`},
		{name: "ministral3 needs the llama 4 scaling keys", arch: "ministral3", extra: `"rope_parameters": {"rope_theta": 1}`,
			err: `"rope_parameters" has no "llama_4_scaling_beta"`},
		{name: "apertus up/down MLP with XieLU scalars", arch: "apertus", extra: apertus, layers: 2,
			shapes: map[string]any{"model.layers.0.mlp.act_fn": "[{alpha_p []} {alpha_n []} {beta []} {eps []}]",
				"model.layers.0.mlp.gate_proj": nil, "model.layers.0.self_attn.q_norm": "[{weight [16]}]",
				"model.layers.1.feedforward_layernorm": "[{weight [64]}]", "model.layers.0.self_attn.o_proj": "[{weight [64 64]}]"}},
		{name: "apertus needs post_norm", arch: "apertus", extra: apertus + `, "post_norm": "MISSING"`,
			err: `"post_norm" is missing (required by the model)`},
		{name: "granite rope_theta in rope_parameters", arch: "granite", extra: granite + `, "rope_theta": "MISSING", "rope_parameters": {"rope_theta": 5}`,
			layers: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := denseConfig(t, tc.arch, tc.extra)
			spec, err := family.Lookup(tc.arch).MLX.Build(c, tensorView{newTensorSet(nil)})
			if tc.err != "" {
				require.ErrorIs(t, err, model.ErrConfig)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.layers, spec.NumLayers)
			for path, want := range tc.shapes {
				i := slices.IndexFunc(spec.Modules, func(m moduleSpec) bool { return m.Path == path })
				if want == nil {
					assert.Equal(t, -1, i, "%s must be absent", path)
					continue
				}
				require.NotEqual(t, -1, i, "%s is missing", path)
				assert.Equal(t, want, fmt.Sprint(spec.Modules[i].Params), path)
			}
		})
	}
}

// TestDenseSanitize pins which checkpoint names each dense decoder's
// sanitize drops.
func TestDenseSanitize(t *testing.T) {
	names := []string{"model.embed_tokens.weight", "model.layers.0.self_attn.rotary_emb.inv_freq", "lm_head.weight"}
	cases := []struct {
		arch, extra string
		keep        []string // nil: the model has no sanitize
	}{
		{"llama", `"tie_word_embeddings": "MISSING"`, names[:1]},
		{"llama", "", []string{names[0], names[2]}},
		{"qwen2", `"tie_word_embeddings": "MISSING"`, names[:1]},
		{"qwen3", `"tie_word_embeddings": true`, names[:2]},
		{"qwen3", "", names},
		{"smollm3", `"tie_word_embeddings": "MISSING"`, names[:1]},
		{"olmo2", `"tie_word_embeddings": true`, []string{names[0], names[2]}},
		{"granite", `"tie_word_embeddings": "MISSING"`, []string{names[0], names[1]}},
		{"seed_oss", `"tie_word_embeddings": true`, names[:2]},
		{"hunyuan_v1_dense", `"tie_word_embeddings": "MISSING"`, names[:3]},
		{"internlm3", "", names}, // drops attention.rope.inv_freq, not rotary_emb
		{"apertus", `"tie_word_embeddings": true`, names[:2]},
		{"gemma", "", nil},
		{"phi3", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.arch+" "+tc.extra, func(t *testing.T) {
			a := family.Lookup(tc.arch)
			if tc.keep == nil {
				assert.False(t, a.MLX.HasSanitize())
				return
			}
			var src []SourceTensor
			for _, n := range names {
				src = append(src, SourceTensor{Name: n, DType: mlx.F32, Shape: []int{4}})
			}
			ts := newTensorSet(src)
			require.NoError(t, a.MLX.SanitizeTensors(&model.Tree{}, denseConfig(t, tc.arch, tc.extra), tensorView{ts}))
			assert.Equal(t, tc.keep, ts.names())
		})
	}
}

// denseConfig is denseBase with extra's keys set ("MISSING" deletes one).
func denseConfig(t *testing.T, arch, extra string) model.Config {
	t.Helper()
	base, err := model.ParseObject([]byte("{" + denseBase + ", \"model_type\": \"" + arch + "\"}"))
	require.NoError(t, err)
	if extra != "" {
		ex, err := model.ParseObject([]byte("{" + extra + "}"))
		require.NoError(t, err)
		for _, k := range ex.Keys() {
			v, _ := ex.Get(k)
			if v == "MISSING" {
				base.Delete(k)
			} else {
				base.Set(k, v)
			}
		}
	}
	return newConfig(base, "config.json")
}

// TestMistral3 pins the VLM wrapper: the text model (ministral3, else
// llama) under language_model., vision dropped, either checkpoint layout.
func TestMistral3(t *testing.T) {
	names := []string{"vision_tower.patch_conv.weight", "language_model.model.embed_tokens.weight",
		"model.language_model.norm.weight", "language_model.model.layers.0.self_attn.rotary_emb.inv_freq",
		"model.multi_modal_projector.linear_1.weight", "lm_head.weight", "language_model.model.layers.0.mlp.weight_scale_inv"}
	cases := []struct {
		name, text string
		err        string
		head       bool     // language_model.lm_head in the tree
		keep       []string // after sanitize; nil: sanitize fails
	}{
		{name: "llama text, untied by default", text: `"model_type": "mistral", "attention_bias": true`, head: true,
			keep: []string{"language_model.model.embed_tokens.weight", "language_model.model.norm.weight", "language_model.lm_head.weight",
				"language_model.model.layers.0.mlp.weight_scale_inv"}},
		{name: "llama text tied", text: `"model_type": "mistral", "tie_word_embeddings": true`,
			keep: []string{"language_model.model.embed_tokens.weight", "language_model.model.norm.weight",
				"language_model.model.layers.0.mlp.weight_scale_inv"}},
		{name: "ministral3 text refuses FP8 scales", text: `"model_type": "ministral3", ` + ministral3Rope, head: true},
		{name: "text model_type required", text: `"model_type": "MISSING"`, err: `text_config: "model_type" is missing`},
		{name: "mistral4 text", text: `"model_type": "mistral4"`, err: `mistral4 text model is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := denseConfig(t, "x", "\"tie_word_embeddings\": \"MISSING\", "+tc.text)
			top := pyjsonObject(t, `{"model_type": "mistral3"}`)
			top.Set("text_config", text.Obj())
			c := newConfig(top, "config.json")
			spec, err := family.Lookup("mistral3").MLX.Build(c, tensorView{newTensorSet(nil)})
			if tc.err != "" {
				require.ErrorIs(t, err, model.ErrConfig)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "language_model.model.embed_tokens", spec.Modules[0].Path)
			assert.Equal(t, tc.head, slices.ContainsFunc(spec.Modules, func(m moduleSpec) bool { return m.Path == "language_model.lm_head" }))
			var src []SourceTensor
			for _, n := range names {
				src = append(src, SourceTensor{Name: n, DType: mlx.F32, Shape: []int{4}})
			}
			ts := newTensorSet(src)
			m := family.Lookup("mistral3").MLX
			err = m.SanitizeTensors(spec, c, tensorView{ts})
			if tc.keep == nil {
				require.ErrorIs(t, err, model.ErrWeights)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.keep, ts.names())
		})
	}
}

func pyjsonObject(t *testing.T, s string) *pyjson.Object {
	t.Helper()
	o, err := model.ParseObject([]byte(s))
	require.NoError(t, err)
	return o
}
