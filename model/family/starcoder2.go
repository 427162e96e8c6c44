package family

import "github.com/mlxconv/mlxconv/model"

// StarCoder2 is mlx-lm's starcoder2 (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's StarCoder2Model: TextModel's
// hparams and GPT-2 BPE vocabulary, LayerNorms with biases, a c_fc/c_proj
// MLP.
var StarCoder2 = &model.Family{
	Name:  "starcoder2",
	Types: []string{"starcoder2"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"starcoder2"}, Arch: "starcoder2", Vocab: "starcoder2", SetVocab: model.VocabLoader.BPE,
		Layer:  model.WithLayer(map[string]string{"mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}),
		Params: model.TextParams,
		Configs: map[string]*model.HFConfig{"starcoder2": {Defaults: map[string]any{"vocab_size": 49152, "max_position_embeddings": 4096,
			"hidden_size": 3072, "intermediate_size": 12288, "num_attention_heads": 24, "num_key_value_heads": 2, "sliding_window": nil,
			"norm_epsilon": 1e-5, "rope_theta": 10000.0, "rope_scaling": nil, "tie_word_embeddings": true}}},
	},
}
