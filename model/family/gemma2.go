package family

import "github.com/mlxconv/mlxconv/model"

// Gemma2 is mlx-lm's gemma2: no sanitize, no lm_head, four norms a layer.
var Gemma2 = &model.Family{
	Name:  "gemma2",
	Types: []string{"gemma2"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "head_dim",
			"rms_norm_eps", "vocab_size", "num_key_value_heads"},
		KvRequired: true, HeadDim: model.HeadDimRequired, AlwaysTied: true,
		Norms: []string{"input_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm", "post_attention_layernorm"},
	}).MLX(),
	GGUF: &model.GGUF{
		Types: []string{"gemma2"}, Arch: "gemma2", Vocab: "gemma2", SetVocab: model.SPMNoSpacePrefix, NormShift: true, DropHead: true, Layer: gemma2Layer,
		Params: gemma2Params,
		Configs: map[string]*model.HFConfig{"gemma2": {Defaults: map[string]any{"max_position_embeddings": 8192, "num_key_value_heads": 4,
			"rope_theta": 10000.0, "rms_norm_eps": 1e-6, "head_dim": 256, "sliding_window": 4096, "attn_logit_softcapping": 50.0,
			"final_logit_softcapping": 30.0}}},
	},
}

// gemma2Layer is Gemma2Model's (and Gemma3Model's) tensor names.
var gemma2Layer = model.WithLayer(map[string]string{
	"post_attention_layernorm":   "post_attention_norm",
	"pre_feedforward_layernorm":  "ffn_norm",
	"post_feedforward_layernorm": "post_ffw_norm",
})

func gemma2Params(m *model.Meta) error {
	if err := gemmaCommon(m); err != nil {
		return err
	}
	if err := m.ReqF32("attn_logit_softcapping", "attn_logit_softcapping"); err != nil {
		return err
	}
	if err := m.ReqF32("final_logit_softcapping", "final_logit_softcapping"); err != nil {
		return err
	}
	return m.ReqU32("attention.sliding_window", "sliding_window")
}
