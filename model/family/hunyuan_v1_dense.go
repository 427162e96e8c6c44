package family

import "github.com/mlxconv/mlxconv/model"

// HunyuanV1Dense is mlx-lm's hunyuan_v1_dense: q/k norms named
// query_layernorm and key_layernorm, present unless use_qk_norm is false;
// attention_bias on all four projections, no MLP bias, untied by default.
var HunyuanV1Dense = &model.Family{
	Name:  "hunyuan_v1_dense",
	Types: []string{"hunyuan_v1_dense"},
	MLX: (&model.Dense{
		Required: []string{"vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
			"num_key_value_heads", "rms_norm_eps"},
		KvRequired: true, HeadDim: model.HeadDimOptional, AttnBias: "attention_bias",
		QkNorm: true, QkNormKey: "use_qk_norm", QkNormNames: [2]string{"query_layernorm", "key_layernorm"},
		Norms: model.TwoNorms, Check: checkHunyuanRope, Rules: []model.SanitizeRule{model.TiedHead{}},
	}).MLX(),
}

// checkHunyuanRope is ModelArgs.__post_init__: a rope_scaling has alpha,
// factor and type.
func checkHunyuanRope(c model.Config) error {
	_, err := ropeScalingKeys(c, "alpha", "factor", "type")
	return err
}
