package family

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlxconv/mlxconv/model"
)

// TestGlm4MoELiteConfigs: transformers 5's mlp_layer_types sets
// first_k_dense_replace (when not the default 1) so mlx-lm reads the same
// layout, other patterns are refused; Optional fields as None.
func TestGlm4MoELiteConfigs(t *testing.T) {
	base := `"model_type": "glm4_moe_lite", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
"num_hidden_layers": 3, "num_attention_heads": 4, "kv_lora_rank": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
"qk_nope_head_dim": 32, "n_routed_experts": 4, "vocab_size": 128`
	tests := []struct {
		name, extra string
		firstK      string // first_k_dense_replace after the build ("" absent)
		has, hasNot []string
		err         error
	}{
		{"legacy", `, "first_k_dense_replace": 2, "q_lora_rank": 48`, "2",
			[]string{"layers.1.mlp.gate_proj", "layers.2.mlp.switch_mlp.up_proj", "layers.2.mlp.shared_experts.up_proj", "q_a_proj"}, nil, nil},
		{"transformers 5, default layout", `, "mlp_layer_types": ["dense", "sparse", "sparse"], "q_lora_rank": null, "n_shared_experts": null`, "",
			[]string{"layers.1.mlp.switch_mlp.up_proj", "layers.0.self_attn.q_proj"}, []string{"shared_experts", "q_a_proj"}, nil},
		{"transformers 5, two dense layers", `, "mlp_layer_types": ["dense", "dense", "sparse"]`, "2",
			[]string{"layers.1.mlp.gate_proj", "layers.2.mlp.switch_mlp.up_proj"}, nil, nil},
		{"transformers 5, interleaved", `, "mlp_layer_types": ["dense", "sparse", "dense"]`, "", nil, nil, model.ErrUnsupported},
		{"no experts", `, "n_routed_experts": null`, "", []string{"layers.2.mlp.gate_proj"}, []string{"switch_mlp"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := model.ParseObject([]byte(`{` + base + tc.extra + `}`))
			if err != nil {
				t.Fatal(err)
			}
			tree, err := Glm4MoELite.MLX.Build(model.NewConfig(o, "config.json"), nil)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, ok := o.Get("first_k_dense_replace")
			if got := fmt.Sprint(v); (tc.firstK == "" && ok) || (tc.firstK != "" && got != tc.firstK) {
				t.Errorf("first_k_dense_replace = %v (present %v), want %q", v, ok, tc.firstK)
			}
			var paths []string
			for _, m := range tree.Modules {
				paths = append(paths, m.Path)
			}
			all := strings.Join(paths, " ")
			for _, s := range tc.has {
				if !strings.Contains(all, s) {
					t.Errorf("no module %s", s)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(all, s) {
					t.Errorf("unexpected module %s", s)
				}
			}
		})
	}
}
