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
		LegacyRope: true,
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
			"logits_scaling", "attention_multiplier", "embedding_multiplier", "residual_multiplier", "max_position_embeddings",
			"num_key_value_heads", "attention_bias", "mlp_bias"},
		KvRequired: true, HeadDim: model.HeadDimFromHidden, AttnBias: "attention_bias", MlpBias: "mlp_bias", TieDefault: true,
		Norms: model.TwoNorms, Check: checkRopeTheta, Rules: []model.SanitizeRule{model.TiedHead{Default: true}}, Pred: graniteDensePred,
	}).MLX(), // llama.cpp's GraniteModel: LlamaModel's rules with the multipliers
	// as scales.
	GGUF: &model.GGUF{
		Types: []string{"granite"}, Arch: "granite", Vocab: "granite", SetVocab: llamaVocab, TokenizerClass: "LlamaTokenizerFast",
		PermuteQK: true, Layer: model.CommonLayer, Params: graniteMoEParams,
		Configs: map[string]*model.HFConfig{"granite": {Defaults: map[string]any{"vocab_size": 32000, "max_position_embeddings": 2048,
			"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
			"rope_scaling": nil, "embedding_multiplier": 1.0, "logits_scaling": 1.0, "residual_multiplier": 1.0, "attention_multiplier": 1.0,
			"tie_word_embeddings": false, "attention_bias": false, "mlp_bias": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// graniteDensePred keeps o_proj, down_proj and lm_head at 8 bits (group
// 64): low-bit float modes underflow their scales.
func graniteDensePred(path string) *pyjson.Object {
	if !strings.HasSuffix(path, "self_attn.o_proj") && !strings.HasSuffix(path, "mlp.down_proj") && path != "lm_head" {
		return nil
	}
	return eightBit(path)
}
