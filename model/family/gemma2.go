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
}
