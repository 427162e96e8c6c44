package family

import (
	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Gemma is mlx-lm's gemma: no sanitize, no lm_head (the embedding is tied).
var Gemma = &model.Family{
	Name:  "gemma",
	Types: []string{"gemma"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "head_dim",
			"rms_norm_eps", "vocab_size", "num_key_value_heads"},
		KvRequired: true, HeadDim: model.HeadDimRequired, AlwaysTied: true, Norms: model.TwoNorms,
	}).MLX(),
	GGUF: &model.GGUF{
		Types: []string{"gemma"}, Arch: "gemma", Vocab: "gemma", SetVocab: gemmaVocab, NormShift: true, DropHead: true, Layer: model.CommonLayer,
		Params: gemmaCommon,
		Configs: map[string]*model.HFConfig{"gemma": {Defaults: map[string]any{"max_position_embeddings": 8192, "num_key_value_heads": 16,
			"rope_theta": 10000.0, "rms_norm_eps": 1e-6, "head_dim": 256}}},
	},
}

// gemmaCommon is GemmaModel/Gemma2Model.set_gguf_parameters up to the file
// type.
func gemmaCommon(m *model.Meta) error {
	for _, s := range []struct {
		suffix string
		keys   []string
	}{
		{"context_length", []string{"max_position_embeddings"}},
		{"embedding_length", []string{"hidden_size"}},
	} {
		if err := m.ReqU32(s.suffix, s.keys...); err != nil {
			return err
		}
	}
	if err := m.U32("block_count", m.BlockCount); err != nil {
		return err
	}
	if err := m.ReqU32("feed_forward_length", "intermediate_size"); err != nil {
		return err
	}
	if err := m.ReqU32("attention.head_count", "num_attention_heads"); err != nil {
		return err
	}
	kvKey := "num_attention_heads"
	if m.H.Has("num_key_value_heads") {
		kvKey = "num_key_value_heads"
	}
	if err := m.ReqU32("attention.head_count_kv", kvKey); err != nil {
		return err
	}
	if err := m.ReqF32("attention.layer_norm_rms_epsilon", "rms_norm_eps"); err != nil {
		return err
	}
	if err := m.ReqU32("attention.key_length", "head_dim"); err != nil {
		return err
	}
	if err := m.ReqU32("attention.value_length", "head_dim"); err != nil {
		return err
	}
	m.Set("general.file_type", gguf.NewValue(uint32(m.FileType)))
	return nil
}

// gemmaVocab is GemmaModel.set_vocab.
func gemmaVocab(l model.VocabLoader) error {
	if err := l.SPM(false); err != nil {
		return err
	}
	if err := l.ExtraSpecials([]string{"prefix", "suffix", "middle", "fsep", "eot"},
		map[string]int64{"prefix": 67, "suffix": 69, "middle": 68, "fsep": 70, "eot": 107}, false); err != nil {
		return err
	}
	l.SetAddSpacePrefix(false)
	return nil
}
