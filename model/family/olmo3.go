package family

import (
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Olmo3 is mlx-lm's olmo3 (no sanitize: its tree is read off the
// checkpoint, as Generic's, in olmo3.py's module order) and llama.cpp's
// Olmo2Model (which also converts Olmo3ForCausalLM): post-norms only,
// full-width q/k norms, sliding-window layers, GPT-2 BPE vocabulary.
var Olmo3 = &model.Family{
	Name:  "olmo3",
	Types: []string{"olmo3"},
	MLX: model.MLX{Build: model.CheckpointOrder([]string{"model.embed_tokens", "model.layers", "model.norm", "lm_head"},
		[]string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "self_attn.q_norm", "self_attn.k_norm",
			"mlp.gate_proj", "mlp.down_proj", "mlp.up_proj", "post_attention_layernorm", "post_feedforward_layernorm"}, "model.layers")},
	GGUF: &model.GGUF{
		Types: []string{"olmo3"}, Arch: "olmo2", Vocab: "olmo2", SetVocab: model.VocabLoader.BPE,
		Layer: model.WithLayer(map[string]string{
			"post_attention_layernorm":   "post_attention_norm",
			"post_feedforward_layernorm": "post_ffw_norm",
		}),
		Params: olmo2Params,
		Configs: map[string]*model.HFConfig{"olmo3": {Defaults: map[string]any{"vocab_size": 50304, "max_position_embeddings": 2048,
			"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
			"rope_scaling": nil, "attention_bias": false, "sliding_window": 4096, "tie_word_embeddings": false},
			KVHeads: model.KVHeadsNullOrAbsent}},
	},
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
