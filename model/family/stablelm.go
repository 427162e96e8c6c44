package family

import (
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// StableLM is mlx-lm's stablelm (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's StableLMModel: LayerNorms
// with biases, partial rotary, optional parallel residual and q/k/v
// biases, GPT-2 BPE vocabulary (tokenizer.json). qk_layernorm models
// (StableLM 2 12B) are refused, their per-head q/k LayerNorm names
// unmapped: the pinned converter fails on them too (its modify_tensors
// returns, rather than yields, the generator stacking them: "Unprocessed
// norms").
var StableLM = &model.Family{
	Name:  "stablelm",
	Types: []string{"stablelm"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"stablelm"}, Arch: "stablelm", Vocab: "stablelm", SetVocab: model.VocabLoader.BPE,
		Layer: model.CommonLayer, Params: stableLMParams,
		Configs: map[string]*model.HFConfig{"stablelm": {Defaults: map[string]any{"vocab_size": 50304, "max_position_embeddings": 4096,
			"hidden_size": 2560, "intermediate_size": 6912, "num_attention_heads": 32, "num_key_value_heads": 32,
			"layer_norm_eps": 1e-5, "rope_theta": 10000, "rope_scaling": nil, "use_qkv_bias": false, "qk_layernorm": false,
			"use_parallel_residual": false, "partial_rotary_factor": 0.25, "tie_word_embeddings": false}}},
	},
}

// stableLMParams is StableLMModel.set_gguf_parameters (TextModel's is not
// run): rope dimensions int(factor * head_dim), parallel residual true
// unless the config says otherwise.
func stableLMParams(m *model.Meta) error {
	var embd, heads int64
	return model.Steps(
		func() error { return m.ReqU32("context_length", "max_position_embeddings") },
		func() (err error) { embd, err = m.H.ReqU32("hidden_size"); return },
		func() error { return m.U32("embedding_length", embd) },
		func() error { return m.U32("block_count", m.BlockCount) },
		func() error { return m.ReqU32("feed_forward_length", "intermediate_size") },
		func() (err error) { heads, err = m.H.ReqU32("num_attention_heads"); return },
		func() error { return partialRopeDim(m, embd, heads, true) },
		func() error { return m.U32("attention.head_count", heads) },
		func() error { return m.ReqU32("attention.head_count_kv", "num_key_value_heads") },
		func() error {
			par, ok, err := m.H.FindBool("use_parallel_residual")
			m.Set(m.ArchKey("use_parallel_residual"), gguf.NewValue(par || !ok))
			return err
		},
		func() error { return m.ReqF32("attention.layer_norm_epsilon", "layer_norm_eps", "norm_eps") },
		func() error { m.Set("general.file_type", gguf.NewValue(uint32(m.FileType))); return nil },
	)
}
