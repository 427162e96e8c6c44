package family

import "github.com/mlxconv/mlxconv/model"

// Ernie45 is mlx-lm's ernie4_5 (no sanitize: its tree is read off the
// checkpoint, as Generic's) and llama.cpp's Ernie4_5Model: llama-like
// without the Q/K permute, SentencePiece vocabulary.
var Ernie45 = &model.Family{
	Name:  "ernie4_5",
	Types: []string{"ernie4_5"},
	MLX:   model.MLX{Build: model.BuildFromCheckpoint, LegacyRope: true},
	GGUF: &model.GGUF{
		Types: []string{"ernie4_5"}, Arch: "ernie4_5", Vocab: "ernie4_5", SetVocab: ernie45Vocab,
		Layer: model.CommonLayer, Params: model.TextParams,
		Configs: map[string]*model.HFConfig{"ernie4_5": {Defaults: map[string]any{"vocab_size": 103424, "max_position_embeddings": 131072,
			"hidden_size": 1024, "intermediate_size": 3072, "num_attention_heads": 16, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
			"rope_theta": 500000.0, "rope_scaling": nil, "use_bias": false, "head_dim": 128, "tie_word_embeddings": true}}},
	},
}

// ernie45Vocab is Ernie4_5Model.set_vocab: SentencePiece, then
// tokenizer_config.json's add_prefix_space.
func ernie45Vocab(l model.VocabLoader) error {
	_, err := spmPrefixSpaceVocab(l)
	return err
}

// spmPrefixSpaceVocab loads the SentencePiece vocabulary and applies
// tokenizer_config.json's add_prefix_space where it is set (a bool), as
// Ernie4_5Model and InternLM3Model do; it returns tokenizer_config.json.
func spmPrefixSpaceVocab(l model.VocabLoader) (map[string]any, error) {
	if err := l.SPM(false); err != nil {
		return nil, err
	}
	tc, err := l.TokenizerConfig()
	if err != nil {
		return nil, err
	}
	if v, ok := tc["add_prefix_space"]; ok {
		b, ok := v.(bool)
		if !ok {
			return nil, l.Errorf("tokenizer_config.json add_prefix_space is not a bool")
		}
		l.SetAddSpacePrefix(b)
	}
	return tc, nil
}
