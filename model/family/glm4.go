package family

import (
	"fmt"

	"github.com/mlxconv/mlxconv/model"
)

// Glm4 is mlx-lm's glm4 (no sanitize: its tree is read off the checkpoint,
// as Generic's) and llama.cpp's Glm4Model:
// fused gate_up_proj, post-attention and post-MLP norms, partial rotary
// embedding, GLM's BPE vocabulary with <|endoftext|>/<|user|> specials.
var Glm4 = &model.Family{
	Name:  "glm4",
	Types: []string{"glm4"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"glm4"}, Arch: "glm4", Vocab: "glm4", SetVocab: glm4Vocab,
		Layer: model.WithLayer(map[string]string{
			"mlp.gate_up_proj":         "ffn_up",
			"post_self_attn_layernorm": "post_attention_norm",
			"post_mlp_layernorm":       "post_ffw_norm",
		}),
		Params: glm4Params,
		Configs: map[string]*model.HFConfig{"glm4": {Defaults: map[string]any{"vocab_size": 151552, "max_position_embeddings": 131072,
			"hidden_size": 4096, "intermediate_size": 13696, "num_attention_heads": 32, "partial_rotary_factor": 0.5, "head_dim": 128,
			"num_key_value_heads": 2, "rms_norm_eps": 1.5625e-07, "rope_theta": 10000.0, "tie_word_embeddings": false}}},
	},
}

// glm4Params is Glm4Model.set_gguf_parameters: TextModel's, then the
// rotary part of the head.
func glm4Params(m *model.Meta) error {
	if _, _, ok := m.Rope.Get("mrope_section"); ok {
		return fmt.Errorf("%w: glm4 with M-RoPE (mrope_section) is not supported", model.ErrExport)
	}
	if err := model.TextParams(m); err != nil {
		return err
	}
	return glmRopeDim(m)
}

// glm4Vocab is Glm4Model.set_vocab: BPE, with eos, unk and bos falling
// back to <|endoftext|> and eot to <|user|>.
func glm4Vocab(l model.VocabLoader) error {
	if err := l.BPE(); err != nil {
		return err
	}
	eot, err := l.AddedTokenID("<|endoftext|>")
	if err != nil {
		return err
	}
	user, err := l.AddedTokenID("<|user|>")
	if err != nil {
		return err
	}
	return l.ExtraSpecials([]string{"eos", "eot", "unk", "bos"},
		map[string]int64{"eos": eot, "eot": user, "unk": eot, "bos": eot}, true)
}
