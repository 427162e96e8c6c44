package family

import "github.com/mlxconv/mlxconv/model"

// Gemma is mlx-lm's gemma: no sanitize, no lm_head (the embedding is tied).
var Gemma = &model.Family{
	Name:  "gemma",
	Types: []string{"gemma"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "head_dim",
			"rms_norm_eps", "vocab_size", "num_key_value_heads"},
		KvRequired: true, HeadDim: model.HeadDimRequired, AlwaysTied: true, Norms: model.TwoNorms,
	}).MLX(),
}
