package family

import (
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// GPTBigCode is mlx-lm's gpt_bigcode (SantaCoder, StarCoder; no sanitize:
// its tree is read off the checkpoint, as Generic's) and llama.cpp's
// StarCoderModel: GPT-2 names under transformer., learned position
// embeddings, the fused multi-query c_attn kept as attn_qkv, GPT-2 BPE
// vocabulary.
var GPTBigCode = &model.Family{
	Name:  "gpt_bigcode",
	Types: []string{"gpt_bigcode"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"gpt_bigcode"}, Arch: "starcoder", Vocab: "starcoder", SetVocab: model.VocabLoader.BPE,
		Blocks: "transformer.h.",
		Layer: map[string]string{"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
			"mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"},
		Global: map[string]string{"transformer.wte": "token_embd", "transformer.wpe": "position_embd", "transformer.ln_f": "output_norm"},
		Params: gptBigCodeParams,
		Configs: map[string]*model.HFConfig{"gpt_bigcode": {Defaults: map[string]any{"vocab_size": 50257, "n_positions": 1024,
			"n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": nil, "layer_norm_epsilon": 1e-5, "multi_query": true,
			"tie_word_embeddings": true}}},
	},
}

// gptBigCodeParams is StarCoderModel.set_gguf_parameters (TextModel's is
// not run): feed-forward length 4 * n_embd, one KV head.
func gptBigCodeParams(m *model.Meta) error {
	var embd int64
	return model.Steps(
		func() error { return m.ReqU32("context_length", "n_positions") },
		func() (err error) { embd, err = m.H.ReqU32("n_embd"); return },
		func() error { return m.U32("embedding_length", embd) },
		func() error { return m.U32("feed_forward_length", 4*embd) },
		func() error { return m.U32("block_count", m.BlockCount) },
		func() error { return m.ReqU32("attention.head_count", "n_head") },
		func() error { return m.U32("attention.head_count_kv", 1) },
		func() error { return m.ReqF32("attention.layer_norm_epsilon", "layer_norm_epsilon") },
		func() error { m.Set("general.file_type", gguf.NewValue(uint32(m.FileType))); return nil },
	)
}
