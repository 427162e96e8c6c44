package family

import (
	"fmt"
	"testing"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// paramsMeta is a Meta over config (JSON) with the families' config
// classes, as the exporter builds it.
func paramsMeta(t *testing.T, arch, config string) *model.Meta {
	t.Helper()
	v, err := pyjson.Parse([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	h := model.NewHParams(v.(*pyjson.Object), HFConfig, "")
	rope, err := model.NewRope(h)
	if err != nil {
		t.Fatal(err)
	}
	n, _, _ := h.FindInt("num_hidden_layers")
	return &model.Meta{Arch: arch, H: h, Rope: rope, BlockCount: n}
}

func kv(t *testing.T, m *model.Meta, key string) string {
	t.Helper()
	v, ok := m.KVs.Lookup(m.ArchKey(key))
	if !ok {
		return "absent"
	}
	return fmt.Sprint(v)
}

func TestLlama4SlidingWindow(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{"num_hidden_layers": 4, "layer_types": ["full_attention", "full_attention", "full_attention", "full_attention"]}`, "0"},
		{`{"num_hidden_layers": 4, "layer_types": ["chunked_attention", "full_attention", "full_attention", "full_attention"]}`, "absent"},
		{`{"num_hidden_layers": 4, "no_rope_layers": [0, 0, 0, 0]}`, "0"},
		{`{"num_hidden_layers": 4, "no_rope_layers": [1, 1, 1, 0]}`, "absent"},
		{`{"num_hidden_layers": 4, "no_rope_layer_interval": 1}`, "0"},
		{`{"num_hidden_layers": 4, "no_rope_layer_interval": 4}`, "absent"},
	} {
		m := paramsMeta(t, "llama4", tc.cfg)
		if err := llama4SlidingWindow(m); err != nil {
			t.Fatalf("%s: %v", tc.cfg, err)
		}
		if got := kv(t, m, "attention.sliding_window"); got != tc.want {
			t.Errorf("%s: sliding_window %s, want %s", tc.cfg, got, tc.want)
		}
	}
}

func TestOptLengthsAndSparsity(t *testing.T) {
	m := paramsMeta(t, "gemma3n", `{"intermediate_size": [128, 256], "activation_sparsity_pattern": [0.95, 0.0, 0.5]}`)
	if err := m.OptLengths("feed_forward_length", "intermediate_size"); err != nil {
		t.Fatal(err)
	}
	if err := gemma3nSparsity(m); err != nil {
		t.Fatal(err)
	}
	// torch.distributions.Normal(0, 1).icdf(torch.tensor(0.95)).item():
	// 1.6448535919189453 (what llama.cpp's converter writes).
	for key, want := range map[string]string{"feed_forward_length": "[INT32×2]{128, 256}", "activation_sparsity_scale": "[FLOAT32×3]{1.6448536, -Inf, 0}"} {
		if got := kv(t, m, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	m = paramsMeta(t, "gemma3n", `{"intermediate_size": 64}`)
	if err := m.OptLengths("feed_forward_length", "intermediate_size"); err != nil || kv(t, m, "feed_forward_length") != "64" {
		t.Errorf("scalar: %v %s", err, kv(t, m, "feed_forward_length"))
	}
}

func TestGemma4PerLayerConfig(t *testing.T) {
	for _, tc := range []struct{ cfg, headDim, kvHeads string }{
		{`{"layer_types": ["sliding_attention", "full_attention", "sliding_attention"], "head_dim": 16, "num_key_value_heads": 2,
			"per_layer_config": {"0": {"head_dim": 8}, "1": {"head_dim": 32, "num_key_value_heads": 1}}}`, "32", "[INT32×3]{2, 1, 2}"},
		{`{"layer_types": ["sliding_attention", "full_attention"], "head_dim": 16, "num_key_value_heads": 2, "global_head_dim": 64,
			"num_global_key_value_heads": 4}`, "64", "[INT32×2]{2, 4}"},
		{`{"layer_types": ["sliding_attention", "full_attention"], "head_dim": 16, "num_key_value_heads": 2, "global_head_dim": 64}`, "64", "absent"},
	} {
		m := paramsMeta(t, "gemma4", tc.cfg)
		types, err := gemma4HPLayerTypes(m.H)
		if err != nil {
			t.Fatal(err)
		}
		full, err := gemma4FullValue(m.H, types, "global_head_dim", "head_dim", true)
		if err != nil || fmt.Sprint(full) != tc.headDim {
			t.Errorf("%s: full head_dim %d (%v), want %s", tc.cfg, full, err, tc.headDim)
		}
		swa := []bool{true, false, true}[:len(types)]
		if err := gemma4KVHeads(m, types, swa); err != nil {
			t.Fatal(err)
		}
		if got := kv(t, m, "attention.head_count_kv"); got != tc.kvHeads {
			t.Errorf("%s: head_count_kv %s, want %s", tc.cfg, got, tc.kvHeads)
		}
	}
	m := paramsMeta(t, "gemma4", `{"layer_types": ["full_attention"], "head_dim": 16}`)
	if _, err := gemma4FullValue(m.H, []string{fullAttention}, "global_head_dim", "head_dim", true); err == nil {
		t.Error("no full-attention head_dim: no error")
	}
}
