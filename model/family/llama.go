package family

import "github.com/mlxconv/mlxconv/model"

// Llama is mlx-lm's llama, with MODEL_REMAPPING's mistral, iquestcoder and
// xverse.
var Llama = &model.Family{
	Name:  "llama",
	Types: []string{"llama", "mistral", "iquestcoder", "xverse"},
	MLX: (&model.Dense{
		Required:   []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
		LayerTypes: true, HeadDim: model.HeadDimOptional, HeadDimFirst: true,
		AttnBias: "attention_bias", MlpBias: "mlp_bias", TieDefault: true,
		Norms: model.TwoNorms, Sanitize: []model.SanitizeStep{model.SanitizeInvFreq, model.SanitizeTiedHead},
	}).MLX(),
}
