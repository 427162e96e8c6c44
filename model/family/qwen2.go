package family

import "github.com/mlxconv/mlxconv/model"

// Qwen2 is mlx-lm's qwen2.
var Qwen2 = &model.Family{
	Name:  "qwen2",
	Types: []string{"qwen2"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
			"num_key_value_heads"},
		KvRequired: true, HeadDim: model.HeadDimFromHidden, QkvBias: true, TieDefault: true,
		Norms: model.TwoNorms, Rules: []model.SanitizeRule{model.TiedHead{Default: true}, dropInvFreq},
	}).MLX(),
	GGUF: &model.GGUF{
		Types: []string{"qwen2"}, Arch: "qwen2", Vocab: "qwen2", Layer: model.CommonLayer, Params: model.TextParams,
		Configs: map[string]*model.HFConfig{"qwen2": {Defaults: map[string]any{"max_position_embeddings": 32768, "num_key_value_heads": 32,
			"rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil}, KVHeads: model.KVHeadsNull, SlidingWindowFlag: true}},
	},
}
