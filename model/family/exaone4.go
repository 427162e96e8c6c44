package family

import (
	"fmt"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Exaone4 is mlx-lm's exaone4 (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's Exaone4Model: post-norms after
// attention and MLP (no pre-norms), q/k norms, sliding-window layers,
// GPT-2 BPE vocabulary.
var Exaone4 = &model.Family{
	Name:  "exaone4",
	Types: []string{"exaone4"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"exaone4"}, Arch: "exaone4", Vocab: "exaone4", SetVocab: model.VocabLoader.BPE,
		Layer: model.WithLayer(map[string]string{
			"post_attention_layernorm":   "post_attention_norm",
			"post_feedforward_layernorm": "post_ffw_norm",
		}),
		Params: exaone4Params, Extra: exaone4Extra,
		Configs: map[string]*model.HFConfig{"exaone4": {Defaults: map[string]any{"vocab_size": 102400, "hidden_size": 4096,
			"num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 16384, "max_position_embeddings": 2048,
			"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": nil, "sliding_window": 4096, "sliding_window_pattern": 4,
			"tie_word_embeddings": false}}},
	},
}

// exaone4Params is Exaone4Model.set_gguf_parameters.
func exaone4Params(m *model.Meta) error {
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqU32("vocab_size", "vocab_size") },
		func() error { return exaone4Sliding(m) },
	)
}

// exaone4Sliding writes sliding_window and, from layer_types or
// sliding_window_pattern, the per-layer sliding flags.
func exaone4Sliding(m *model.Meta) error {
	sw, ok, err := m.H.FindU32("sliding_window")
	if err != nil || !ok {
		return err
	}
	if err := m.U32("attention.sliding_window", sw); err != nil {
		return err
	}
	pat, err := exaone4Pattern(m.H)
	if err != nil || pat == nil {
		return err
	}
	m.Set(m.ArchKey("attention.sliding_window_pattern"), gguf.NewValue(pat))
	return nil
}

// exaone4Pattern is the per-layer sliding flags: layer_types, else a
// sliding_window_pattern string ("LLLG") or period; nil when neither gives
// one flag per layer.
func exaone4Pattern(h *model.HParams) ([]bool, error) {
	layers, err := h.ReqInt("num_hidden_layers")
	if err != nil {
		return nil, err
	}
	if lt, ok := h.Get("layer_types"); ok {
		list, ok := lt.([]pyjson.Value)
		if !ok {
			return nil, fmt.Errorf("%w: layer_types is not a list", model.ErrExport)
		}
		out := make([]bool, len(list))
		for i, t := range list {
			out[i] = t == "sliding_attention"
		}
		return out, nil
	}
	var out []bool
	switch p := h.Raw("sliding_window_pattern").(type) {
	case string:
		for i := int64(0); i < layers && p != ""; i++ {
			out = append(out, p[i%int64(len(p))] == 'L')
		}
	default:
		n, ok := model.HPInt(p)
		for i := int64(0); ok && n != 0 && i < layers; i++ {
			out = append(out, (i+1)%n != 0)
		}
	}
	if int64(len(out)) != layers {
		return nil, nil
	}
	return out, nil
}

// exaone4Extra is Exaone4Model.generate_extra_tensors: llama3 rope_freqs
// as LlamaModel's, with a default factor of 16.
func exaone4Extra(h *model.HParams, rope *model.Rope) ([]model.ExtraTensor, []gguf.KV, error) {
	t, err := rope.RopeType()
	if err != nil || strings.ToLower(t) != "llama3" {
		return nil, nil, err
	}
	f, err := llama3RopeFreqs(h, rope, 16.0)
	if err != nil {
		return nil, nil, err
	}
	return []model.ExtraTensor{{Name: "rope_freqs.weight", Values: f}}, nil, nil
}
