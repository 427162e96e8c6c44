package family

import (
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Granite is mlx-lm's granite: llama's layout with every ModelArgs size
// and multiplier required, and 8-bit o_proj, down_proj and lm_head.
var Granite = &model.Family{
	Name:  "granite",
	Types: []string{"granite"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
			"logits_scaling", "attention_multiplier", "embedding_multiplier", "residual_multiplier", "max_position_embeddings",
			"num_key_value_heads", "attention_bias", "mlp_bias"},
		KvRequired: true, HeadDim: model.HeadDimFromHidden, AttnBias: "attention_bias", MlpBias: "mlp_bias", TieDefault: true,
		Norms: model.TwoNorms, Check: checkRopeTheta, Rules: []model.SanitizeRule{model.TiedHead{Default: true}}, Pred: graniteDensePred,
	}).MLX(),
}

// graniteDensePred keeps o_proj, down_proj and lm_head at 8 bits (group
// 64): low-bit float modes underflow their scales.
func graniteDensePred(path string) *pyjson.Object {
	if !strings.HasSuffix(path, "self_attn.o_proj") && !strings.HasSuffix(path, "mlp.down_proj") && path != "lm_head" {
		return nil
	}
	return eightBit(path)
}
