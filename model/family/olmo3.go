package family

import "github.com/mlxconv/mlxconv/model"

// Olmo3 is mlx-lm's olmo3 (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's
// Olmo2Model (which also converts Olmo3ForCausalLM): post-norms only,
// full-width q/k norms, sliding-window layers, GPT-2 BPE vocabulary.
var Olmo3 = &model.Family{
	Name:  "olmo3",
	Types: []string{"olmo3"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: olmo2GGUF("olmo3", &model.HFConfig{Defaults: map[string]any{"vocab_size": 50304, "max_position_embeddings": 2048,
		"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"rope_scaling": nil, "attention_bias": false, "sliding_window": 4096, "tie_word_embeddings": false},
		KVHeads: model.KVHeadsNullOrAbsent}),
}
