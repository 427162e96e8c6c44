package family

import (
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Olmo2 is mlx-lm's olmo2: q/k norms over all heads, the norms after the
// attention and the MLP, tied by default, and a sanitize that drops only
// the rotary buffers (a tied model's lm_head is not popped).
var Olmo2 = &model.Family{
	Name:  "olmo2",
	Types: []string{"olmo2"},
	MLX: (&model.Dense{
		LegacyRope: true,
		Required:   []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
		HeadDim:    model.HeadDimOptional, AttnBias: "attention_bias", MlpBias: "mlp_bias", TieDefault: true,
		QkNorm: true, QkNormFull: true,
		Norms: []string{"post_attention_layernorm", "post_feedforward_layernorm"},
		Rules: []model.SanitizeRule{dropInvFreq},
	}).MLX(),
	GGUF: olmo2GGUF("olmo2", &model.HFConfig{Defaults: map[string]any{"vocab_size": 50304, "max_position_embeddings": 2048,
		"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"rope_scaling": nil, "attention_bias": false, "tie_word_embeddings": false}, KVHeads: model.KVHeadsNullOrAbsent}),
}

// olmo2GGUF is llama.cpp's Olmo2Model (Olmo2ForCausalLM and
// Olmo3ForCausalLM) for one model_type and its config class: post-norms
// only, full-width q/k norms, GPT-2 BPE vocabulary.
func olmo2GGUF(modelType string, cfg *model.HFConfig) *model.GGUF {
	return &model.GGUF{
		Types: []string{modelType}, Arch: "olmo2", Vocab: "olmo2", SetVocab: model.VocabLoader.BPE,
		Layer: model.WithLayer(map[string]string{
			"post_attention_layernorm":   "post_attention_norm",
			"post_feedforward_layernorm": "post_ffw_norm",
		}),
		Params: olmo2Params, Configs: map[string]*model.HFConfig{modelType: cfg},
	}
}

// olmo2Params is Olmo2Model.set_gguf_parameters: TextModel's, then (when
// the config has sliding_window) the window and the per-layer sliding
// flags (layer_types, else every fourth layer full).
func olmo2Params(m *model.Meta) error {
	if err := model.TextParams(m); err != nil {
		return err
	}
	if !m.H.Has("sliding_window") {
		return nil
	}
	if err := m.ReqU32("attention.sliding_window", "sliding_window"); err != nil {
		return err
	}
	var pat []bool
	if lt, ok := m.H.Get("layer_types"); ok {
		list, ok := lt.([]pyjson.Value)
		if !ok {
			return model.ConfigError("layer_types", "a list", lt)
		}
		for _, t := range list {
			pat = append(pat, t == "sliding_attention")
		}
	} else {
		n, err := m.H.ReqInt("num_hidden_layers")
		if err != nil {
			return err
		}
		for i := int64(0); i < n; i++ {
			pat = append(pat, (i+1)%4 != 0)
		}
	}
	m.Set(m.ArchKey("attention.sliding_window_pattern"), gguf.NewValue(pat))
	return nil
}
