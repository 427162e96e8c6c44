package family

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/model"
)

// buildFrom builds family f's tree from a config.json text.
func buildFrom(t *testing.T, f *model.Family, cfg string) (*model.Tree, error) {
	t.Helper()
	o, err := model.ParseObject([]byte(cfg))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return f.MLX.Build(model.NewConfig(o, "config.json"), nil)
}

const gemma3nTextJSON = `"model_type": "gemma3n_text", "hidden_size": 64, "num_hidden_layers": 3, "intermediate_size": %INTER%,
"num_attention_heads": 4, "head_dim": 16, "rms_norm_eps": 1e-6, "vocab_size": 128, "num_key_value_heads": 2,
"num_kv_shared_layers": 1, "vocab_size_per_layer_input": 64, "sliding_window": 32, "max_position_embeddings": 512,
"final_logit_softcapping": 30.0, "layer_types": %TYPES%, "activation_sparsity_pattern": [0.95, 0, 0],
"hidden_size_per_layer_input": 16, "altup_num_inputs": 4, "altup_coef_clip": 120.0, "altup_correct_scale": true,
"altup_active_idx": 0, "laurel_rank": 8`

func gemma3nConfig(rope, inter, types string) string {
	r := strings.NewReplacer("%INTER%", inter, "%TYPES%", types)
	return `{"model_type": "gemma3n", "text_config": {` + r.Replace(gemma3nTextJSON) + rope + `}}`
}

// TestGemma3nConfigs: legacy (rope_theta, rope_local_base_freq) and
// transformers 5 (rope_parameters) configs build the same tree; the
// layer_types mlx-lm's LanguageModel cannot index are refused.
func TestGemma3nConfigs(t *testing.T) {
	legacy := `, "rope_theta": 1e6, "rope_local_base_freq": 1e4`
	tf5 := `, "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e6},
"sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}`
	types := `["sliding_attention", "full_attention", "sliding_attention"]`
	tests := []struct {
		name, cfg string
		modules   int
		err       string
	}{
		{"legacy", gemma3nConfig(legacy, "128", types), 3*24 + 11, ""},
		{"transformers 5, per-layer sizes", gemma3nConfig(tf5, "[128, 128, 256]", types), 3*24 + 11, ""},
		{"no rope keys", gemma3nConfig("", "128", types), 0, `"rope_local_base_freq" is missing`},
		{"short size list", gemma3nConfig(legacy, "[128]", types), 0, `"intermediate_size" has 1 entries`},
		{"no full attention before the shared layers", gemma3nConfig(legacy, "128",
			`["sliding_attention", "sliding_attention", "full_attention"]`), 0, `"layer_types" needs`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := buildFrom(t, Gemma3n, tc.cfg)
			if tc.err != "" {
				if err == nil || !errors.Is(err, model.ErrConfig) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tree.Modules) != tc.modules || tree.NumLayers != 3 {
				t.Fatalf("%d modules, %d layers", len(tree.Modules), tree.NumLayers)
			}
		})
	}
}

// TestGemma4Configs: a transformers >= 5.23 text config (per_layer_config
// instead of global_head_dim / num_global_key_value_heads) builds the tree
// of its Hub spelling and gets the keys back for mlx-lm; a null
// hidden_size_per_layer_input is None (no per-layer inputs); KV-shared
// layers need an earlier layer of their type.
func TestGemma4Configs(t *testing.T) {
	base := `"model_type": "gemma4_text", "hidden_size": 64, "num_hidden_layers": 3, "intermediate_size": 128,
"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 128, "attention_k_eq_v": true,
"layer_types": ["sliding_attention", "full_attention", "full_attention"], "num_kv_shared_layers": 0, `
	hub := `{` + base + `"global_head_dim": 32, "num_global_key_value_heads": 1, "hidden_size_per_layer_input": null}`
	tf523 := `{` + base + `"per_layer_config": {"1": {"head_dim": 32, "num_key_value_heads": 1}, "2": {"head_dim": 32,
"num_key_value_heads": 1}}, "hidden_size_per_layer_input": null}`
	want, err := buildFrom(t, Gemma4Text, hub)
	if err != nil {
		t.Fatal(err)
	}
	o, err := model.ParseObject([]byte(tf523))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Gemma4Text.MLX.Build(model.NewConfig(o, "config.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Modules) != len(want.Modules) {
		t.Fatalf("%d modules, want %d", len(got.Modules), len(want.Modules))
	}
	for i, m := range got.Modules {
		if m.Path != want.Modules[i].Path || fmt.Sprint(m.Params) != fmt.Sprint(want.Modules[i].Params) {
			t.Fatalf("module %d: %s %v, want %s %v", i, m.Path, m.Params, want.Modules[i].Path, want.Modules[i].Params)
		}
	}
	for k, v := range map[string]string{"global_head_dim": "32", "num_global_key_value_heads": "1"} {
		if x, ok := o.Get(k); !ok || fmt.Sprint(x) != v {
			t.Errorf("config %q = %v, want %s", k, x, v)
		}
	}
	for _, m := range got.Modules {
		if strings.Contains(m.Path, "per_layer") || strings.HasSuffix(m.Path, "layers.1.self_attn.v_proj") {
			t.Errorf("unexpected module %s", m.Path)
		}
	}
	shared := `{` + base + `"num_kv_shared_layers": 2}`
	if _, err := buildFrom(t, Gemma4Text, strings.Replace(shared, `"num_kv_shared_layers": 0, `, "", 1)); err == nil ||
		!strings.Contains(err.Error(), "no earlier \"full_attention\" layer") {
		t.Errorf("err = %v", err)
	}
}
