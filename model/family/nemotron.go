package family

import (
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Nemotron is mlx-lm's nemotron (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's NemotronModel: LayerNorm1P
// (the converter adds 1 to every norm weight), squared-ReLU MLP without a
// gate, partial rotary, SentencePiece vocabulary with pad 0 and unk 1.
var Nemotron = &model.Family{
	Name:  "nemotron",
	Types: []string{"nemotron"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"nemotron"}, Arch: "nemotron", Vocab: "nemotron", SetVocab: nemotronVocab,
		Layer: model.CommonLayer, NormShift: true, Params: nemotronParams,
		Configs: map[string]*model.HFConfig{"nemotron": {Defaults: map[string]any{"vocab_size": 256000, "max_position_embeddings": 4096,
			"hidden_size": 6144, "intermediate_size": 24576, "num_attention_heads": 48, "head_dim": 128, "norm_eps": 1e-5,
			"rope_theta": 10000.0, "partial_rotary_factor": 0.5, "attention_bias": false, "mlp_bias": false,
			"tie_word_embeddings": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// nemotronParams is NemotronModel.set_gguf_parameters: TextModel's, the
// vocabulary size, the LayerNorm epsilon, int(factor * n_embd) // n_head
// rope dimensions and a linear rope scaling (type none without a factor).
func nemotronParams(m *model.Meta) error {
	var embd, heads int64
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqU32("vocab_size", "vocab_size") },
		func() error {
			return m.ReqF32("attention.layer_norm_epsilon", "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon", "norm_eps")
		},
		func() (err error) { embd, err = m.H.ReqU32("hidden_size", "n_embd"); return },
		func() (err error) { heads, err = m.H.ReqU32("num_attention_heads", "n_head"); return },
		func() error { return partialRopeDim(m, embd, heads, false) },
		func() error { return nemotronRopeScaling(m) },
	)
}

// nemotronRopeScaling: factor from config.json, else rope_parameters; a
// falsy one is none.
func nemotronRopeScaling(m *model.Meta) error {
	f, ok, err := m.H.FindFloat("factor")
	if err != nil {
		return err
	}
	if !ok || f == 0 {
		if f, ok, err = m.Rope.Float("factor"); err != nil {
			return err
		}
	}
	if !ok {
		m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("none"))
		return nil
	}
	m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("linear"))
	m.F32("rope.scaling.factor", f)
	return nil
}

// nemotronVocab is NemotronModel.set_vocab: SentencePiece, then pad id 0
// and unk id 1 over the tokenizer's.
func nemotronVocab(l model.VocabLoader) error {
	if err := l.SPM(false); err != nil {
		return err
	}
	if err := l.SetTokenID("pad", 0); err != nil {
		return err
	}
	return l.SetTokenID("unk", 1)
}
