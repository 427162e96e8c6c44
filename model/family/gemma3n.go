package family

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Gemma3n is mlx-lm's gemma3n, the text model of the multimodal checkpoint:
// vision and audio towers and their embedders dropped, the language model
// under "model.language_model." with AltUp, Laurel and per-layer inputs.
// The head is tied (embed_tokens.as_linear); no quant_predicate.
var Gemma3n = &model.Family{
	Name:  "gemma3n",
	Types: []string{"gemma3n"},
	MLX: model.MLX{ConfigEdit: gemma3nTF4, Build: buildGemma3n, Rules: []model.SanitizeRule{
		model.Require{Match: model.Top("model"), Why: `mlx-lm's gemma3n sanitize reads weights["model"]`},
		model.Drop{model.Prefix("model.vision_tower."), model.Prefix("model.audio_tower."),
			model.Prefix("model.embed_audio."), model.Prefix("model.embed_vision.")},
	}},
	GGUF: &model.GGUF{
		Types: []string{"gemma3n"}, Arch: "gemma3n", Vocab: "gemma3n", SetVocab: gemma3nVocab, Params: gemma3nParams,
		Prefix: "model.language_model.",
		Layer: model.WithLayer(map[string]string{
			"post_attention_layernorm":   "post_attention_norm",
			"pre_feedforward_layernorm":  "ffn_norm",
			"post_feedforward_layernorm": "post_ffw_norm",
			"altup.correct_output_scale": "altup_correct_scale.weight",
			"altup.correction_coefs":     "altup_correct_coef",
			"altup.prediction_coefs":     "altup_predict_coef",
			"altup.modality_router":      "altup_router",
			"altup.router_norm":          "altup_router_norm",
			"laurel.linear_left":         "laurel_l",
			"laurel.linear_right":        "laurel_r",
			"laurel.post_laurel_norm":    "laurel_post_norm",
			"per_layer_input_gate":       "inp_gate",
			"per_layer_projection":       "proj",
			"post_per_layer_input_norm":  "post_norm",
		}),
		Global: map[string]string{"model.embed_tokens_per_layer": "per_layer_token_embd",
			"model.per_layer_model_projection": "per_layer_model_proj", "model.per_layer_projection_norm": "per_layer_proj_norm"},
		Stack:   map[string]string{"model.altup_projections.": "altup_proj", "model.altup_unembed_projections.": "altup_unembd_proj"},
		PadRows: []string{"token_embd.weight", "per_layer_token_embd.weight"},
		Configs: map[string]*model.HFConfig{"gemma3n_text": {Defaults: map[string]any{"vocab_size": 262400,
			"vocab_size_per_layer_input": 262144, "hidden_size": 2048, "hidden_size_per_layer_input": 256, "intermediate_size": 16384,
			"num_hidden_layers": 35, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256, "max_position_embeddings": 32768,
			"rms_norm_eps": 1e-6, "rope_theta": 1e6, "rope_scaling": nil, "rope_local_base_freq": 10000.0, "sliding_window": 512,
			"final_logit_softcapping": 30.0, "altup_active_idx": 0, "altup_num_inputs": 4, "num_kv_shared_layers": 15, "laurel_rank": 64}}},
	},
}

// gemma3nVocab is Gemma3Model.set_vocab (SentencePiece from
// tokenizer.model, else GPT-2 BPE), extended: without tokenizer.model
// (mlx-lm's outputs have none) a SentencePiece-style tokenizer.json whose
// BPE pre-tokenizer llama.cpp's converter does not know (where the
// converter fails) is exported as the SentencePiece vocabulary it
// describes, as the Hub's tokenizer.model would be.
func gemma3nVocab(l model.VocabLoader) error {
	if l.HasSPM() || !l.IsLlamaHF() {
		return gemma3Vocab(l)
	}
	if err := l.BPE(); err == nil {
		return nil
	}
	return model.SPMNoSpacePrefix(l)
}

// gemma3nParams is Gemma3NModel.set_gguf_parameters: Gemma3Model's, then
// AltUp, the per-layer input size, the shared KV layers, the activation
// sparsity as standard-normal quantiles and the sliding-window pattern.
func gemma3nParams(m *model.Meta) error {
	if n, _, err := m.H.FindInt("altup_num_inputs"); err != nil || n != 4 {
		if err == nil {
			err = fmt.Errorf("%w: gemma3n with altup_num_inputs %d (llama.cpp's converter supports 4)", model.ErrExport, n)
		}
		return err
	}
	return model.Steps(
		func() error { return gemma3Params(m) },
		func() error { return m.ReqU32("altup.active_idx", "altup_active_idx") },
		func() error { return m.ReqU32("altup.num_inputs", "altup_num_inputs") },
		func() error { return m.ReqU32("embedding_length_per_layer_input", "hidden_size_per_layer_input") },
		func() error { return m.ReqU32("attention.shared_kv_layers", "num_kv_shared_layers") },
		func() error { return gemma3nSparsity(m) },
		func() error {
			types, err := gemma4HPLayerTypes(m.H)
			swa := make([]bool, len(types))
			for i, t := range types {
				swa[i] = t == slidingAttention
			}
			m.Set(m.ArchKey("attention.sliding_window_pattern"), gguf.NewValue(swa))
			return err
		},
	)
}

// gemma3nSparsity writes activation_sparsity_scale: per layer the
// standard normal quantile of the sparsity, in float32 as torch's
// Normal(0, 1).icdf computes it (erfinv(2p - 1) * sqrt(2)).
func gemma3nSparsity(m *model.Meta) error {
	v := m.H.Raw("activation_sparsity_pattern")
	list, ok := v.([]pyjson.Value)
	if !ok {
		return model.ConfigError(m.H.Field("activation_sparsity_pattern"), "a list of numbers", v)
	}
	out := make([]float32, len(list))
	for i, e := range list {
		p, isNum := model.PyFloat(e)
		if !isNum {
			return model.ConfigError(m.H.Field("activation_sparsity_pattern"), "a list of numbers", v)
		}
		x := float32(2)*float32(p) - float32(1)
		out[i] = float32(math.Erfinv(float64(x))) * float32(math.Sqrt2)
	}
	m.Set(m.ArchKey("activation_sparsity_scale"), gguf.NewValue(out))
	return nil
}

const (
	slidingAttention = "sliding_attention"
	fullAttention    = "full_attention"
)

// gemma3nText is what the tree needs from TextConfig.
type gemma3nText struct {
	d                       model.Dims
	layers, kv, headDim     int
	perLayer, vocabPerLayer int
	altup, laurel, kvShared int
	inter                   []int
	layerTypes              []string
}

// gemma3nTextKeys are TextConfig's fields without a default; transformers
// 5 configs carry rope_theta and rope_local_base_freq in rope_parameters.
var gemma3nTextKeys = []string{"model_type", "hidden_size", "num_hidden_layers", "intermediate_size",
	"num_attention_heads", "head_dim", "rms_norm_eps", "vocab_size", "num_key_value_heads", "num_kv_shared_layers",
	"vocab_size_per_layer_input", "sliding_window", "max_position_embeddings", "final_logit_softcapping",
	"layer_types", "activation_sparsity_pattern", "hidden_size_per_layer_input", "altup_num_inputs",
	"altup_coef_clip", "altup_correct_scale", "altup_active_idx", "laurel_rank"}

func readGemma3nText(c model.Config) (g gemma3nText, err error) {
	if err = model.NeedKeys(c, "model_type", "text_config"); err != nil {
		return g, err
	}
	tc := c.Object("text_config")
	if tc == nil {
		return g, c.Errf("text_config", "is not an object")
	}
	t := model.NewConfig(tc, "config.json text_config")
	if err = model.NeedKeys(t, gemma3nTextKeys...); err != nil {
		return g, err
	}
	if t.Object("rope_parameters") == nil {
		if err = model.NeedKeys(t, "rope_local_base_freq", "rope_theta"); err != nil {
			return g, err
		}
	}
	err = model.Steps(
		func() (err error) { g.d.Hidden, err = t.PosInt("hidden_size"); return },
		func() (err error) { g.d.Heads, err = t.PosInt("num_attention_heads"); return },
		func() (err error) { g.d.Vocab, err = t.PosInt("vocab_size"); return },
		func() (err error) { g.layers, err = model.LayerCount(t); return },
		func() (err error) { g.kv, err = t.PosInt("num_key_value_heads"); return },
		func() (err error) { g.headDim, err = t.PosInt("head_dim"); return },
		func() (err error) { g.perLayer, err = t.PosInt("hidden_size_per_layer_input"); return },
		func() (err error) { g.vocabPerLayer, err = t.PosInt("vocab_size_per_layer_input"); return },
		func() (err error) { g.altup, err = t.PosInt("altup_num_inputs"); return },
		func() (err error) { g.laurel, err = t.PosInt("laurel_rank"); return },
		func() (err error) { g.kvShared, err = t.ReqInt("num_kv_shared_layers"); return },
		func() (err error) { g.inter, err = perLayerInts(t, "intermediate_size", g.layers); return },
		func() (err error) { g.layerTypes, err = layerStrings(t, "layer_types", g.layers); return },
	)
	if err == nil {
		err = checkGemma3nLayers(t, g)
	}
	return g, err
}

// checkGemma3nLayers mirrors LanguageModel's layer_types lookups: both
// kinds among the layers that own a KV cache, nothing else after them.
func checkGemma3nLayers(t model.Config, g gemma3nText) error {
	own := g.layerTypes[:max(0, min(g.layers, g.layers-g.kvShared))]
	if !slices.Contains(own, slidingAttention) || !slices.Contains(own, fullAttention) {
		return t.Errf("layer_types", "needs %q and %q among the first %d layers (num_kv_shared_layers %d)",
			slidingAttention, fullAttention, len(own), g.kvShared)
	}
	for _, lt := range g.layerTypes[len(own):] {
		if lt != slidingAttention && lt != fullAttention {
			return t.Errf("layer_types", "holds %q (mlx-lm: unknown layer type)", lt)
		}
	}
	return nil
}

func buildGemma3n(c model.Config, _ model.Tensors) (*model.Tree, error) {
	g, err := readGemma3nText(c)
	if err != nil {
		return nil, err
	}
	h := g.d.Hidden
	var b model.Builder
	lm := "model.language_model."
	b.Embedding(lm+"embed_tokens", g.d.Vocab, h)
	for l := 0; l < g.layers; l++ {
		p := lm + "layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", h, g.d.Heads, g.kv, g.headDim, false, false)
		b.Norm(p+".self_attn.q_norm", g.headDim)
		b.Norm(p+".self_attn.k_norm", g.headDim)
		b.MLPGateUpDown(p+".mlp", h, g.inter[l], false)
		for _, n := range []string{"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"} {
			b.Norm(p+"."+n, h)
		}
		b.BlockParams(p+".altup", model.Param{Name: "correct_output_scale", Shape: []int{h}})
		b.Linear(p+".altup.correction_coefs", g.altup, g.altup, false)
		b.Linear(p+".altup.prediction_coefs", g.altup, g.altup*g.altup, false)
		b.Linear(p+".altup.modality_router", h, g.altup, false)
		b.Norm(p+".altup.router_norm", h)
		b.Linear(p+".laurel.linear_left", h, g.laurel, false)
		b.Linear(p+".laurel.linear_right", g.laurel, h, false)
		b.Norm(p+".laurel.post_laurel_norm", h)
		b.Linear(p+".per_layer_input_gate", h, g.perLayer, false)
		b.Linear(p+".per_layer_projection", g.perLayer, h, false)
		b.Norm(p+".post_per_layer_input_norm", h)
	}
	b.Embedding(lm+"embed_tokens_per_layer", g.vocabPerLayer, g.layers*g.perLayer)
	b.Linear(lm+"per_layer_model_projection", h, g.layers*g.perLayer, false)
	b.Norm(lm+"per_layer_projection_norm", g.perLayer)
	for _, n := range []string{"altup_projections.", "altup_unembed_projections."} {
		for i := 1; i < g.altup; i++ {
			b.Linear(lm+n+strconv.Itoa(i-1), h, h, false)
		}
	}
	b.Norm(lm+"norm", h)
	return b.Tree(g.layers), nil
}

// perLayerInts reads key as one positive integer for every layer or a list
// of at least n (mlx-lm indexes the list by layer).
func perLayerInts(c model.Config, key string, n int) ([]int, error) {
	if v, ok := c.Value(key); ok {
		if _, isList := v.([]pyjson.Value); isList {
			list, err := c.IntList(key)
			if err == nil && len(list) < n {
				err = c.Errf(key, "has %d entries for %d layers", len(list), n)
			}
			if err == nil && slices.ContainsFunc(list, func(x int) bool { return x <= 0 }) {
				err = c.Errf(key, "holds a size that is not positive")
			}
			return list, err
		}
	}
	one, err := c.PosInt(key)
	return slices.Repeat([]int{one}, n), err
}

// layerStrings reads key as a list of at least n strings (one per layer).
func layerStrings(c model.Config, key string, n int) ([]string, error) {
	out, err := strList(c, key)
	if err == nil && len(out) < n {
		err = c.Errf(key, "has %d entries for %d layers", len(out), n)
	}
	return out, err
}

// gemma3nTF4 gives a transformers-5 text_config the keys mlx-lm's gemma3n
// TextConfig requires: rope_theta and rope_local_base_freq from the
// full_attention and sliding_attention entries of rope_parameters (both
// default ropes; others are left as they are, and mlx-lm refuses them),
// and rope_scaling null when absent, as transformers 4 writes it
// (gemma3n_t5.json).
func gemma3nTF4(c *pyjson.Object) {
	v, _ := c.Get("text_config")
	tc, ok := v.(*pyjson.Object)
	if !ok {
		return
	}
	v, _ = tc.Get("rope_parameters")
	rp, ok := v.(*pyjson.Object)
	if !ok {
		return
	}
	for _, kv := range [][2]string{{"full_attention", "rope_theta"}, {"sliding_attention", "rope_local_base_freq"}} {
		e, _ := rp.Get(kv[0])
		eo, ok := e.(*pyjson.Object)
		if !ok {
			return
		}
		if t, _ := eo.Get("rope_type"); t != "default" {
			return
		}
	}
	for _, kv := range [][2]string{{"full_attention", "rope_theta"}, {"sliding_attention", "rope_local_base_freq"}} {
		e, _ := rp.Get(kv[0])
		if theta, ok := e.(*pyjson.Object).Get("rope_theta"); ok {
			if _, has := tc.Get(kv[1]); !has {
				tc.Set(kv[1], model.CloneValue(theta))
			}
		}
	}
	if _, ok := tc.Get("rope_scaling"); !ok {
		tc.Set("rope_scaling", nil)
	}
}
