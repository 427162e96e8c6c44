package family

import (
	"fmt"
	"strconv"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Gemma3Text is mlx-lm's gemma3_text.
var Gemma3Text = &model.Family{
	Name:  "gemma3_text",
	Types: []string{"gemma3_text"},
	MLX: model.MLX{
		Build: func(c model.Config, _ model.Tensors) (*model.Tree, error) { return buildGemma3Text(c, "") },
		Rules: []model.SanitizeRule{model.OptionalHead{Module: "lm_head"}},
	},
	GGUF: &model.GGUF{
		Types: []string{"gemma3_text"}, Arch: "gemma3", Vocab: "gemma3", SetVocab: gemma3Vocab, NormShift: true, TrimEmbd: true, Layer: gemma2Layer,
		Params: gemma3Params,
		Configs: map[string]*model.HFConfig{"gemma3_text": {Defaults: map[string]any{"max_position_embeddings": 131072, "num_key_value_heads": 4,
			"rope_theta": 1e6, "rope_local_base_freq": 10000.0, "rms_norm_eps": 1e-6, "head_dim": 256, "sliding_window": 4096,
			"attn_logit_softcapping": nil, "final_logit_softcapping": nil, "rope_scaling": nil, "vocab_size": 262208}}},
	},
}

// Gemma3 is mlx-lm's gemma3, the VLM wrapper: vision tower dropped,
// language model under "language_model.".
var Gemma3 = &model.Family{
	Name:  "gemma3",
	Types: []string{"gemma3"},
	MLX: model.MLX{Build: buildGemma3, Rules: []model.SanitizeRule{
		model.Drop{model.Top("vision_tower"), model.Top("multi_modal_projector")},
		model.Require{Match: model.Prefix("language_model."), Why: "mlx-lm reads gemma3's language_model.model.* layout"},
		model.OptionalHead{Module: "language_model.lm_head"},
	}},
	GGUF: &model.GGUF{
		Types: []string{"gemma3"}, Arch: "gemma3", Vocab: "gemma3", SetVocab: gemma3Vocab, NormShift: true, TrimEmbd: true, Layer: gemma2Layer,
		Params:   gemma3Params,
		TextType: "gemma3_text",
	},
}

func buildGemma3Text(c model.Config, prefix string) (*model.Tree, error) {
	if err := model.NeedKeys(c, "model_type"); err != nil {
		return nil, err
	}
	var d model.Dims
	var layers, headDim, kv int
	if err := model.IntsOr(c, model.IntDefault{Key: "hidden_size", Dst: &d.Hidden, Def: 1152},
		model.IntDefault{Key: "intermediate_size", Dst: &d.Inter, Def: 6912},
		model.IntDefault{Key: "num_attention_heads", Dst: &d.Heads, Def: 4},
		model.IntDefault{Key: "vocab_size", Dst: &d.Vocab, Def: 262144},
		model.IntDefault{Key: "num_hidden_layers", Dst: &layers, Def: 26},
		model.IntDefault{Key: "head_dim", Dst: &headDim, Def: 256},
		model.IntDefault{Key: "num_key_value_heads", Dst: &kv, Def: 1}); err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding(prefix+"model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := prefix + "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, false, false)
		b.Norm(p+".self_attn.q_norm", headDim)
		b.Norm(p+".self_attn.k_norm", headDim)
		b.MLP(p+".mlp", d.Hidden, d.Inter, false)
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
		b.Norm(p+".pre_feedforward_layernorm", d.Hidden)
		b.Norm(p+".post_feedforward_layernorm", d.Hidden)
	}
	b.Norm(prefix+"model.norm", d.Hidden)
	b.Linear(prefix+"lm_head", d.Hidden, d.Vocab, false)
	return b.Tree(layers), nil
}

// gemma3TextConfig returns the text_config as gemma3's ModelArgs rewrites
// it: vocab_size from the top level (default 262208), head counts
// defaulted to 8 and 4. The rewrite happens in place, as in mlx-lm, whose
// ModelArgs shares the dict with the config it saves.
func gemma3TextConfig(c model.Config) (model.Config, error) {
	if err := model.NeedKeys(c, "text_config"); err != nil {
		return model.Config{}, err
	}
	tc := c.Object("text_config")
	if tc == nil {
		return model.Config{}, c.Errf("text_config", "is not an object")
	}
	vocab, err := c.IntOr("vocab_size", 262208)
	if err != nil {
		return model.Config{}, err
	}
	tc.Set("vocab_size", pyjson.Int(int64(vocab)))
	if _, ok := tc.Get("num_attention_heads"); !ok {
		tc.Set("num_attention_heads", pyjson.Int(8))
	}
	if _, ok := tc.Get("num_key_value_heads"); !ok {
		tc.Set("num_key_value_heads", pyjson.Int(4))
	}
	return model.NewConfig(tc, "config.json text_config"), nil
}

func buildGemma3(c model.Config, _ model.Tensors) (*model.Tree, error) {
	tc, err := gemma3TextConfig(c)
	if err != nil {
		return nil, err
	}
	return buildGemma3Text(tc, "language_model.")
}

func gemma3Params(m *model.Meta) error {
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return gemma3U32Or(m, "context_length", "max_position_embeddings", 131072) },
		func() error { return gemma3U32Or(m, "attention.head_count", "num_attention_heads", 8) },
		func() error { return gemma3RMSEps(m) },
		func() error { return gemma3U32Or(m, "attention.key_length", "head_dim", 256) },
		func() error { return gemma3U32Or(m, "attention.value_length", "head_dim", 256) },
		func() error { return gemma3Theta(m) },
		func() error { return gemma3Softcapping(m) },
		func() error { return gemma3SlidingWindow(m) },
		func() error { return gemma3U32Or(m, "attention.head_count_kv", "num_key_value_heads", 4) },
	)
}

// gemma3U32Or writes config key as suffix, def when the key is absent; a
// null key is an error (HParams.get returns None).
func gemma3U32Or(m *model.Meta, suffix, key string, def int64) error {
	n, ok, err := m.H.FindU32(key)
	if err != nil {
		return err
	}
	if !ok {
		if m.H.Has(key) { // present but null: HParams.get returns None
			return fmt.Errorf("%w: config.json %q is null", model.ErrExport, key)
		}
		n = def
	}
	return m.U32(suffix, n)
}

func gemma3RMSEps(m *model.Meta) error {
	eps := 1e-6
	if f, ok, err := m.H.FindFloat("rms_norm_eps"); err != nil {
		return err
	} else if ok {
		eps = f
	}
	m.F32("attention.layer_norm_rms_epsilon", eps)
	return nil
}

func gemma3Theta(m *model.Meta) error {
	theta, err := m.Rope.FloatOr("rope_theta", 1e6)
	if err != nil {
		return err
	}
	m.F32("rope.freq_base", theta)
	return nil
}

// gemma3Softcapping refuses attn_logit_softcapping and writes a non-zero
// final_logit_softcapping.
func gemma3Softcapping(m *model.Meta) error {
	if v, ok := m.H.Get("attn_logit_softcapping"); ok {
		return fmt.Errorf("%w: gemma3 with attn_logit_softcapping %v (llama.cpp's converter asserts it is unset)", model.ErrExport, v)
	}
	f, ok, err := m.H.FindFloat("final_logit_softcapping")
	if err != nil {
		return err
	}
	if ok && f != 0 {
		m.F32("final_logit_softcapping", f)
	}
	return nil
}

// gemma3SlidingWindow writes the sliding window unless
// sliding_window_pattern is 1 (no sliding layers).
func gemma3SlidingWindow(m *model.Meta) error {
	if v := m.H.Raw("sliding_window_pattern"); v != nil && fmt.Sprint(v) == "1" {
		return nil
	}
	return m.ReqU32("attention.sliding_window", "sliding_window")
}

// gemma3Vocab is Gemma3Model.set_vocab.
func gemma3Vocab(l model.VocabLoader) error {
	if !l.HasSPM() {
		return l.BPE()
	}
	return model.SPMNoSpacePrefix(l)
}
