package family

import (
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Cohere is mlx-lm's cohere (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's CommandR2Model: one norm per
// block (parallel attention and MLP), tied embeddings, optional per-head
// q/k LayerNorms, GPT-2 BPE vocabulary.
var Cohere = &model.Family{
	Name:  "cohere",
	Types: []string{"cohere"},
	MLX:   model.MLX{Build: cohereOrder, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"cohere"}, Arch: "command-r", Vocab: "command-r", SetVocab: model.VocabLoader.BPE,
		Layer: model.CommonLayer, Params: cohereParams,
		Configs: map[string]*model.HFConfig{"cohere": {Defaults: map[string]any{"vocab_size": 256000, "max_position_embeddings": 8192,
			"hidden_size": 8192, "logit_scale": 0.0625, "intermediate_size": 22528, "num_attention_heads": 64, "num_key_value_heads": 64,
			"layer_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": nil, "use_qk_norm": false, "tie_word_embeddings": true}}},
	},
}

// cohereParams is CommandR2Model.set_gguf_parameters: the context length
// is model_max_length when the config has one (the converter overwrites
// max_position_embeddings with it).
func cohereParams(m *model.Meta) error {
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqU32("context_length", "model_max_length", "max_position_embeddings") },
		func() error { return m.ReqF32("logit_scale", "logit_scale") },
		func() error { m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("none")); return nil },
	)
}

// cohereOrder is the checkpoint's tree in cohere.py's (and cohere2.py's)
// module order: its MLP constructs gate_proj, up_proj, down_proj.
var cohereOrder = model.BuildFromCheckpointRanked(map[string]int{"up_proj": 1, "down_proj": 2})
