package family

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/model"
)

// TestSSMBuild builds the state-space and hybrid families' trees from
// small configs: the config forms mlx-lm accepts (legacy and
// transformers 5), the layer kinds they pick, and the configs it refuses.
func TestSSMBuild(t *testing.T) {
	mamba2 := `"num_heads": 4, "head_dim": 8, "vocab_size": 16, "hidden_size": 16, "intermediate_size": 32, "state_size": 4,
		"num_hidden_layers": 1, "layer_norm_epsilon": 1e-5, "conv_kernel": 4, "n_groups": 2, "use_bias": false,
		"use_conv_bias": true, "tie_word_embeddings": true, "time_step_limit": [0.0, Infinity], "time_step_rank": "auto"`
	nemo := `"vocab_size": 16, "hidden_size": 16, "intermediate_size": 32, "max_position_embeddings": 64,
		"num_attention_heads": 2, "num_key_value_heads": 1, "attention_bias": false, "mamba_num_heads": 4, "mamba_head_dim": 4,
		"mamba_proj_bias": false, "ssm_state_size": 4, "conv_kernel": 4, "n_groups": 1, "mlp_bias": false,
		"layer_norm_epsilon": 1e-5, "use_bias": false, "use_conv_bias": true, "n_routed_experts": 2, "moe_intermediate_size": 8`
	lfm2 := `"vocab_size": 16, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": null,
		"max_position_embeddings": 64, "norm_eps": 1e-5, "conv_bias": false, "conv_L_cache": 3, "block_dim": 16,
		"block_multiple_of": 8, "block_ffn_dim_multiplier": null, "block_auto_adjust_ff_dim": true`
	jamba := `"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "num_key_value_heads": 1,
		"attn_layer_offset": 1, "attn_layer_period": 2, "expert_layer_offset": 1, "expert_layer_period": 2, "mamba_d_conv": 4,
		"mamba_d_state": 4, "mamba_expand": 2, "num_experts": 2, "num_experts_per_tok": 1, "rms_norm_eps": 1e-6,
		"max_position_embeddings": 64, "vocab_size": 16`
	cases := []struct {
		name, mt, config string
		has, hasNot      []string // module paths
		shape            string   // "path.param=d0xd1" checked when set
		err              string
	}{
		{name: "mamba auto rank", mt: "falcon_mamba", config: `"vocab_size": 16, "hidden_size": 40, "intermediate_size": 32,
			"state_size": 4, "num_hidden_layers": 1, "conv_kernel": 4, "use_bias": false, "use_conv_bias": false, "time_step_rank": "auto"`,
			hasNot: []string{"lm_head"}, shape: "backbone.layers.0.mixer.x_proj.weight=11x32"},
		{name: "mamba needs time_step_rank", mt: "mamba", config: `"vocab_size": 16, "hidden_size": 16, "intermediate_size": 32,
			"state_size": 4, "num_hidden_layers": 1, "conv_kernel": 4, "use_bias": false, "use_conv_bias": false`, err: `"time_step_rank" is missing`},
		{name: "mamba2 uses heads·head_dim, ssm_state_size", mt: "mamba2", config: mamba2 + `, "ssm_state_size": 8`,
			shape: "backbone.layers.0.mixer.conv1d.weight=64x4x1"},
		{name: "mamba2 needs intermediate_size", mt: "mamba2", config: strings.Replace(mamba2, `"intermediate_size": 32,`, "", 1),
			err: `"intermediate_size" is missing`},
		{name: "lfm2 by layer_types, ff from intermediate_size", mt: "lfm2",
			config: lfm2 + `, "intermediate_size": 48, "layer_types": ["conv", "full_attention"]`,
			has:    []string{"model.layers.0.conv.conv", "model.layers.1.self_attn.q_layernorm"}, shape: "model.layers.0.feed_forward.w1.weight=32x16"},
		{name: "lfm2 full_attn_idxs first", mt: "lfm2",
			config: lfm2 + `, "block_ff_dim": 48, "full_attn_idxs": [0], "layer_types": ["conv", "full_attention"]`,
			has:    []string{"model.layers.0.self_attn.k_proj", "model.layers.1.conv.in_proj"}},
		{name: "lfm2 without an attention layer", mt: "lfm2", config: lfm2 + `, "block_ff_dim": 48, "layer_types": ["conv", "conv"]`,
			err: `no "full_attention" layer`},
		{name: "lfm2 without ff size", mt: "lfm2", config: lfm2 + `, "full_attn_idxs": [0]`, err: `"block_ff_dim" is missing, and so is intermediate_size`},
		{name: "nemotron_h legacy pattern string", mt: "nemotron_h", config: nemo + `, "hybrid_override_pattern": "M-*E", "n_shared_experts": 1,
			"moe_shared_expert_intermediate_size": 16`,
			has: []string{"backbone.layers.1.mixer.up_proj", "backbone.layers.2.mixer.o_proj", "backbone.layers.3.mixer.gate",
				"backbone.layers.3.mixer.shared_experts.down_proj"}, shape: "backbone.layers.3.mixer.switch_mlp.fc1.weight=2x8x16"},
		{name: "nemotron_h transformers-5 block types, latent experts", mt: "nemotron_h",
			config: nemo + `, "layers_block_type": ["mamba", "moe"], "moe_latent_size": 8`,
			has:    []string{"backbone.layers.1.mixer.fc1_latent_proj"}, hasNot: []string{"backbone.layers.1.mixer.shared_experts.up_proj"},
			shape: "backbone.layers.1.mixer.switch_mlp.fc2.weight=2x8x8"},
		{name: "nemotron_h unknown block type", mt: "nemotron_h", config: nemo + `, "layer_types": ["linear_attention", "ssm"]`,
			err: `holds "ssm", not a supported block type`},
		{name: "nemotron_h without a layer list", mt: "nemotron_h", config: nemo, err: `"layers_block_type" is missing`},
		{name: "jamba by period and offset", mt: "jamba", config: jamba,
			has:    []string{"model.layers.0.mamba.dt_layernorm", "model.layers.1.self_attn.q_proj", "model.layers.1.feed_forward.router", "model.layers.2.feed_forward.gate_proj"},
			hasNot: []string{"model.layers.0.feed_forward.router", "lm_head"}},
		{name: "jamba without attention", mt: "jamba", config: jamba + `, "layers_block_type": ["mamba", "mamba"]`, err: `no "attention" layer`},
		{name: "granitemoehybrid unknown layer type", mt: "granitemoehybrid", config: `"vocab_size": 16, "hidden_size": 16,
			"intermediate_size": 32, "num_hidden_layers": 1, "max_position_embeddings": 64, "num_attention_heads": 2,
			"num_key_value_heads": 1, "attention_bias": false, "embedding_multiplier": 1, "attention_multiplier": 1, "logits_scaling": 1,
			"residual_multiplier": 1, "layer_types": ["conv"], "rms_norm_eps": 1e-5`, err: `holds "conv", not "mamba" or "attention"`},
		{name: "falcon_h1 defaults, optional gated norm", mt: "falcon_h1", config: `"num_hidden_layers": 1, "mamba_rms_norm": true`,
			has: []string{"model.layers.0.mamba.norm"}, hasNot: []string{"lm_head"}, shape: "model.layers.0.mamba.in_proj.weight=3352x1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := model.ParseObject([]byte(`{"model_type": "` + tc.mt + `", ` + tc.config + `}`))
			if err != nil {
				t.Fatal(err)
			}
			tree, err := Lookup(tc.mt).MLX.Build(model.NewConfig(obj, "config.json"), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			paths := map[string]model.Module{}
			for _, m := range tree.Modules {
				paths[m.Path] = m
			}
			for _, p := range tc.has {
				if _, ok := paths[p]; !ok {
					t.Errorf("no module %q", p)
				}
			}
			for _, p := range tc.hasNot {
				if _, ok := paths[p]; ok {
					t.Errorf("unexpected module %q", p)
				}
			}
			if tc.shape != "" {
				name, want, _ := strings.Cut(tc.shape, "=")
				i := strings.LastIndexByte(name, '.')
				m := paths[name[:i]]
				p, _ := m.Param(name[i+1:])
				if got := fmtInts(p.Shape); got != want {
					t.Errorf("%s has shape %s, want %s", name, got, want)
				}
			}
		})
	}
}

// fmtInts writes a shape as d0xd1….
func fmtInts(s []int) string {
	var b strings.Builder
	for i, d := range s {
		if i > 0 {
			b.WriteByte('x')
		}
		b.WriteString(strconv.Itoa(d))
	}
	return b.String()
}
