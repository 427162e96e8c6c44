package family

import (
	"fmt"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Phi is mlx-lm's phi (Phi-1/1.5/2; no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's Phi2Model: parallel attention
// and MLP under one LayerNorm, partial rotary, biases everywhere (the
// head's too), GPT-2 BPE vocabulary.
var Phi = &model.Family{
	Name:  "phi",
	Types: []string{"phi"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"phi"}, Arch: "phi2", Vocab: "phi2", SetVocab: model.VocabLoader.BPE,
		// (No q/k LayerNorms: llama.cpp's phi2 has none, and the converter
		// cannot map a qk_layernorm model's.)
		Layer:  model.WithLayer(map[string]string{"self_attn.dense": "attn_output", "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down"}),
		Global: map[string]string{"model.final_layernorm": "output_norm"},
		Params: phiParams,
		Configs: map[string]*model.HFConfig{"phi": {Defaults: map[string]any{"vocab_size": 51200, "hidden_size": 2048,
			"intermediate_size": 8192, "num_attention_heads": 32, "max_position_embeddings": 2048, "layer_norm_eps": 1e-5,
			"rope_theta": 10000.0, "rope_scaling": nil, "partial_rotary_factor": 0.5, "qk_layernorm": false, "tie_word_embeddings": false},
			KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// phiParams is Phi2Model.set_gguf_parameters (TextModel's is not run):
// the feed-forward length is 4 * n_embd, as many KV heads as heads, and
// no BOS token added.
func phiParams(m *model.Meta) error {
	var embd, heads int64
	return model.Steps(
		func() error { return m.ReqU32("context_length", "n_positions", "max_position_embeddings") },
		func() (err error) { embd, err = m.H.ReqU32("hidden_size", "n_embd"); return },
		func() error { return m.U32("embedding_length", embd) },
		func() error { return m.U32("feed_forward_length", 4*embd) },
		func() error { return m.U32("block_count", m.BlockCount) },
		func() (err error) { heads, err = m.H.ReqU32("num_attention_heads", "n_head"); return },
		func() error { return m.U32("attention.head_count", heads) },
		func() error { return m.U32("attention.head_count_kv", heads) },
		func() error { return m.ReqF32("attention.layer_norm_epsilon", "layer_norm_epsilon", "layer_norm_eps") },
		func() error { return partialRopeDim(m, embd, heads, false) },
		func() error { m.Set("general.file_type", gguf.NewValue(uint32(m.FileType))); return nil },
		func() error { m.Set("tokenizer.ggml.add_bos_token", gguf.NewValue(false)); return nil },
	)
}

// partialRopeDim writes rope.dimension_count from rope_parameters'
// partial_rotary_factor (required): int(factor * embd) // heads
// (Phi2Model, NemotronModel), or with perHead int(factor * (embd //
// heads)) (StableLMModel).
func partialRopeDim(m *model.Meta, embd, heads int64, perHead bool) error {
	f, ok, err := m.Rope.Float("partial_rotary_factor")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: config.json has no partial_rotary_factor", model.ErrExport)
	}
	if heads <= 0 {
		return fmt.Errorf("%w: num_attention_heads is %d", model.ErrExport, heads)
	}
	if perHead {
		return m.U32("rope.dimension_count", int64(f*float64(embd/heads)))
	}
	return m.U32("rope.dimension_count", pyFloorDiv(int64(f*float64(embd)), heads))
}

// pyFloorDiv is Python's a // b for b > 0.
func pyFloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
