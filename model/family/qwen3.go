package family

import "github.com/mlxconv/mlxconv/model"

// Qwen3 is mlx-lm's qwen3.
var Qwen3 = &model.Family{
	Name:  "qwen3",
	Types: []string{"qwen3"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
			"num_key_value_heads", "max_position_embeddings", "head_dim", "tie_word_embeddings"},
		KvRequired: true, HeadDim: model.HeadDimRequired, QkNorm: true,
		Norms: model.TwoNorms, Check: checkRopeTheta, Rules: []model.SanitizeRule{model.TiedHead{}},
	}).MLX(),
	GGUF: &model.GGUF{
		Types: []string{"qwen3"}, Arch: "qwen3", Vocab: "qwen3", Layer: model.CommonLayer, Params: model.TextParams,
		Configs: map[string]*model.HFConfig{"qwen3": {Defaults: map[string]any{"max_position_embeddings": 32768, "num_key_value_heads": 32,
			"rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil, "head_dim": 128}, KVHeads: model.KVHeadsNull, SlidingWindowFlag: true}},
	},
}

// checkRopeTheta: rope_theta must be set, at the top level or in
// rope_parameters (transformers 5).
func checkRopeTheta(c model.Config) error {
	if _, ok := c.Value("rope_theta"); !ok {
		rp := c.Object("rope_parameters")
		if rp == nil || !model.NewConfig(rp, "").Has("rope_theta") {
			return c.Errf("rope_theta", "is missing from the model config")
		}
	}
	return nil
}
