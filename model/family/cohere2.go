package family

import (
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Cohere2 is mlx-lm's cohere2 (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's Cohere2Model: Cohere with
// sliding-window layers; the converter skips the (all-zero) biases.
var Cohere2 = &model.Family{
	Name:  "cohere2",
	Types: []string{"cohere2"},
	MLX:   model.MLX{Build: cohereOrder, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"cohere2"}, Arch: "cohere2", Vocab: "cohere2", SetVocab: model.VocabLoader.BPE,
		Layer: model.CommonLayer, Params: cohere2Params,
		Configs: map[string]*model.HFConfig{"cohere2": {Defaults: map[string]any{"vocab_size": 256000, "max_position_embeddings": 8192,
			"hidden_size": 8192, "logit_scale": 0.0625, "intermediate_size": 22528, "num_attention_heads": 64, "num_key_value_heads": 64,
			"layer_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": nil, "sliding_window": 4096, "head_dim": 128,
			"tie_word_embeddings": true}}},
	},
}

// cohere2Params is Cohere2Model.set_gguf_parameters.
func cohere2Params(m *model.Meta) error {
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqF32("logit_scale", "logit_scale") },
		func() error { return m.ReqU32("attention.sliding_window", "sliding_window") },
		func() error { return m.ReqU32("vocab_size", "vocab_size") },
		func() error { return cohere2RopeDim(m) },
		func() error { m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("none")); return nil },
	)
}

// cohere2RopeDim writes int(rotary_pct * (hidden_size // heads)).
func cohere2RopeDim(m *model.Meta) error {
	pct, ok, err := m.H.FindFloat("rotary_pct")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: cohere2 needs rotary_pct", model.ErrExport)
	}
	hidden, err := m.H.ReqU32("hidden_size")
	if err != nil {
		return err
	}
	heads, err := m.H.ReqU32("num_attention_heads")
	if err != nil {
		return err
	}
	if heads <= 0 {
		return fmt.Errorf("%w: num_attention_heads is %d", model.ErrExport, heads)
	}
	return m.U32("rope.dimension_count", int64(math.Trunc(pct*float64(hidden/heads))))
}
