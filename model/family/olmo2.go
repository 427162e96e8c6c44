package family

import "github.com/mlxconv/mlxconv/model"

// Olmo2 is mlx-lm's olmo2: q/k norms over all heads, the norms after the
// attention and the MLP, tied by default, and a sanitize that drops only
// the rotary buffers (a tied model's lm_head is not popped).
var Olmo2 = &model.Family{
	Name:  "olmo2",
	Types: []string{"olmo2"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
		HeadDim:  model.HeadDimOptional, AttnBias: "attention_bias", MlpBias: "mlp_bias", TieDefault: true,
		QkNorm: true, QkNormFull: true,
		Norms: []string{"post_attention_layernorm", "post_feedforward_layernorm"},
		Rules: []model.SanitizeRule{dropInvFreq},
	}).MLX(),
}
