package family

import "github.com/mlxconv/mlxconv/model"

// SeedOSS is mlx-lm's seed_oss: head_dim and num_key_value_heads
// required, separate bias flags for q/k/v (attention_bias) and o_proj
// (attention_out_bias).
var SeedOSS = &model.Family{
	Name:  "seed_oss",
	Types: []string{"seed_oss"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
			"num_key_value_heads", "head_dim"},
		KvRequired: true, HeadDim: model.HeadDimRequired,
		AttnBias: "attention_bias", OBias: "attention_out_bias", MlpBias: "mlp_bias", TieDefault: true,
		Norms: model.TwoNorms, Rules: []model.SanitizeRule{model.TiedHead{Default: true}},
	}).MLX(),
}
