package family

import "github.com/mlxconv/mlxconv/model"

// SeedOSS is mlx-lm's seed_oss: head_dim and num_key_value_heads
// required, separate bias flags for q/k/v (attention_bias) and o_proj
// (attention_out_bias).
var SeedOSS = &model.Family{
	Name:  "seed_oss",
	Types: []string{"seed_oss"},
	MLX: (&model.Dense{
		LegacyRope: true,
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
			"num_key_value_heads", "head_dim"},
		KvRequired: true, HeadDim: model.HeadDimRequired,
		AttnBias: "attention_bias", OBias: "attention_out_bias", MlpBias: "mlp_bias", TieDefault: true,
		Norms: model.TwoNorms, Rules: []model.SanitizeRule{model.TiedHead{Default: true}},
	}).MLX(),
	// llama.cpp's SeedOssModel: TextModel's hparams and GPT-2 BPE
	// vocabulary; its architecture has no ffn_norm, so the pre-MLP norm
	// (post_attention_layernorm) is post_attention_norm.
	GGUF: &model.GGUF{
		Types: []string{"seed_oss"}, Arch: "seed_oss", Vocab: "seed_oss", SetVocab: model.VocabLoader.BPE,
		Layer: model.WithLayer(map[string]string{"post_attention_layernorm": "post_attention_norm"}), Params: model.TextParams,
		Configs: map[string]*model.HFConfig{"seed_oss": {Defaults: map[string]any{"vocab_size": 155136, "max_position_embeddings": 524288,
			"hidden_size": 4096, "intermediate_size": 27648, "num_attention_heads": 80, "num_key_value_heads": 8, "rms_norm_eps": 1e-6,
			"rope_theta": 10000.0, "rope_scaling": nil, "head_dim": 128, "tie_word_embeddings": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}
