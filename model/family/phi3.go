package family

import "github.com/mlxconv/mlxconv/model"

// Phi3 is mlx-lm's phi3: fused qkv_proj and gate_up_proj, no sanitize.
var Phi3 = &model.Family{
	Name:  "phi3",
	Types: []string{"phi3"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
		HeadDim:  model.HeadDimFromHidden, Fused: true, Norms: model.TwoNorms,
	}).MLX(),
}
