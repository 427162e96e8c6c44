package family

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Gemma4 is mlx-lm's gemma4, the text model of the multimodal checkpoint
// (gemma4_unified, the encoder-free variant, is a MODEL_REMAPPING alias):
// vision/audio towers, embedders and projector dropped, "model." stripped
// and "model.language_model." moved to "language_model.model.", then
// gemma4_text's sanitize under "language_model.".
var Gemma4 = &model.Family{
	Name:  "gemma4",
	Types: []string{"gemma4", "gemma4_unified"},
	MLX: model.MLX{
		Build: buildGemma4,
		Rules: append([]model.SanitizeRule{
			model.Drop(gemma4Towers()),
			model.Rename{From: "model.language_model.", To: "language_model.model.", Prefix: true},
			model.Rename{From: "model.", To: "", Prefix: true},
		}, gemma4TextRules...),
		Sanitize: func(_ *model.Tree, c model.Config, ts model.Tensors) error {
			t, err := gemma4TextConfig(c)
			if err != nil {
				return err
			}
			return sanitizeGemma4Text(t, ts)
		},
		Pred: model.RouterPred("router.proj"),
	},
	GGUF: gemma4GGUF("gemma4", "gemma4_unified"),
}

// gemma4Towers matches the names Model.sanitize skips: after an optional
// "model.", a string prefix naming a tower.
func gemma4Towers() []model.Match {
	var ms []model.Match
	for _, t := range []string{"vision_tower", "multi_modal_projector", "audio_tower", "embed_audio", "embed_vision", "vision_embedder"} {
		ms = append(ms, model.Prefix("model."+t), model.Prefix(t))
	}
	return ms
}

// gemma4TextConfig returns the text_config as gemma4's ModelArgs rewrites
// it in place (the saved config.json shows it): vocab_size from the top
// level (default 262144), head counts defaulted to 8 and 1. An absent
// text_config is a fresh {} that is not saved.
func gemma4TextConfig(c model.Config) (model.Config, error) {
	tc := c.Object("text_config")
	if tc == nil {
		if c.Has("text_config") {
			return model.Config{}, c.Errf("text_config", "is not an object")
		}
		tc = pyjson.NewObject()
	}
	vocab, err := c.IntOr("vocab_size", 262144)
	if err != nil {
		return model.Config{}, err
	}
	tc.Set("vocab_size", pyjson.Int(int64(vocab)))
	if _, ok := tc.Get("num_attention_heads"); !ok {
		tc.Set("num_attention_heads", pyjson.Int(8))
	}
	if _, ok := tc.Get("num_key_value_heads"); !ok {
		tc.Set("num_key_value_heads", pyjson.Int(1))
	}
	return model.NewConfig(tc, "config.json text_config"), nil
}

func buildGemma4(c model.Config, _ model.Tensors) (*model.Tree, error) {
	t, err := gemma4TextConfig(c)
	if err != nil {
		return nil, err
	}
	return buildGemma4Text(t, "language_model.")
}

// gemma4GGUF is Gemma4Model (Gemma3Model's hparams and tensor rules,
// without the norm shift): per-layer-type head sizes, KV heads and rope
// dimensions, the sliding-window pattern, KV-shared layers, per-layer
// inputs, the MoE block (fused gate_up experts as the checkpoint stores
// them, router and expert scales) and proportional rope factors.
// transformers 4.57.6 has no Gemma 4 config class: the converter reads
// config.json as it is (no defaults).
func gemma4GGUF(types ...string) *model.GGUF {
	return &model.GGUF{
		Types: types, Arch: "gemma4", Vocab: "gemma4", SetVocab: gemma4Vocab, TrimEmbd: true,
		Params: gemma4Params, Extra: gemma4Extra,
		Layer: model.WithLayer(map[string]string{
			"post_attention_layernorm":     "post_attention_norm",
			"pre_feedforward_layernorm":    "ffn_norm",
			"post_feedforward_layernorm":   "post_ffw_norm",
			"post_feedforward_layernorm_1": "post_ffw_norm_1",
			"post_feedforward_layernorm_2": "post_ffw_norm_2",
			"pre_feedforward_layernorm_2":  "pre_ffw_norm_2",
			"per_layer_input_gate":         "inp_gate",
			"per_layer_projection":         "proj",
			"post_per_layer_input_norm":    "post_norm",
			"layer_scalar":                 "layer_output_scale.weight",
			"router.proj":                  "ffn_gate_inp",
			"router.scale":                 "ffn_gate_inp.scale",
			"router.per_expert_scale":      "ffn_down_exps.scale",
			"experts.switch_glu.gate_proj": "ffn_gate_exps",
			"experts.switch_glu.up_proj":   "ffn_up_exps",
			"experts.switch_glu.down_proj": "ffn_down_exps",
		}),
		Global: map[string]string{"model.embed_tokens_per_layer": "per_layer_token_embd",
			"model.per_layer_model_projection": "per_layer_model_proj", "model.per_layer_projection_norm": "per_layer_proj_norm"},
		Fuse:        []model.FuseRule{{Into: "ffn_gate_up_exps", Parts: [2]string{"ffn_gate_exps", "ffn_up_exps"}}},
		ExpertOrder: []string{"ffn_down_exps", "ffn_gate_up_exps", "ffn_gate_exps", "ffn_up_exps"},
	}
}

// gemma4Visible are the tokens Gemma4Model.set_vocab types USER_DEFINED.
var gemma4Visible = []string{"<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>", `<|"|>`}

// gemma4Vocab is Gemma4Model.set_vocab.
func gemma4Vocab(l model.VocabLoader) error {
	if err := l.LlamaHFAs("gemma4", gemma4Visible); err != nil {
		return err
	}
	l.SetAddSpacePrefix(false)
	l.SetAddBOS(true)
	return nil
}

// gemma4Params is Gemma4Model.set_gguf_parameters.
func gemma4Params(m *model.Meta) error {
	h := m.H
	types, err := gemma4HPLayerTypes(h)
	if err != nil {
		return err
	}
	swa := make([]bool, len(types))
	for i, t := range types {
		swa[i] = t == slidingAttention
	}
	full, err := gemma4FullValue(h, types, "global_head_dim", "head_dim", true)
	if err != nil {
		return err
	}
	return model.Steps(
		func() error { return gemma3Params(m) },
		func() error { return m.ReqU32("attention.shared_kv_layers", "num_kv_shared_layers") },
		func() error {
			n, _, err := h.FindU32("hidden_size_per_layer_input")
			if err != nil {
				return err
			}
			return m.U32("embedding_length_per_layer_input", n)
		},
		func() error { m.Set(m.ArchKey("attention.sliding_window_pattern"), gguf.NewValue(swa)); return nil },
		func() error { return m.U32("attention.key_length", full) },
		func() error { return m.U32("attention.value_length", full) },
		func() error { return m.ReqU32("attention.key_length_swa", "head_dim") },
		func() error { return m.ReqU32("attention.value_length_swa", "head_dim") },
		func() error { return gemma4ExpertLength(m) },
		func() error { return gemma4DoubleWide(m) },
		func() error { return gemma4KVHeads(m, types, swa) },
		func() error { return m.U32("rope.dimension_count", full) },
		func() error { return gemma4RopeSWA(m) },
	)
}

// gemma4HPLayerTypes is hparams["layer_types"], required.
func gemma4HPLayerTypes(h *model.HParams) ([]string, error) {
	out, ok, err := h.StringList("layer_types")
	if err == nil && !ok {
		err = model.ConfigError(h.Field("layer_types"), "a list of strings", nil)
	}
	return out, err
}

// gemma4FullValue is the full-attention layers' value of a per-layer
// setting: config key, else the first per_layer_config entry of a
// full_attention layer that has plcKey; 0 and false when neither (an
// error when required).
func gemma4FullValue(h *model.HParams, types []string, key, plcKey string, required bool) (int64, error) {
	if n, ok, err := h.FindU32(key); err != nil || ok {
		return n, err
	}
	if plc, ok := h.Raw("per_layer_config").(*pyjson.Object); ok {
		for _, k := range plc.Keys() {
			idx, err := strconv.Atoi(k)
			if err != nil {
				return 0, fmt.Errorf("%w: config.json per_layer_config key %q is not a layer index", model.ErrExport, k)
			}
			e, _ := plc.Get(k)
			o, isObj := e.(*pyjson.Object)
			if idx < 0 || idx >= len(types) || types[idx] != fullAttention || !isObj {
				continue
			}
			if v, ok := o.Get(plcKey); ok {
				n, isInt := model.HPInt(v)
				if !isInt || n < 0 || n > math.MaxUint32 {
					return 0, model.ConfigError("per_layer_config."+k+"."+plcKey, "an integer", v)
				}
				return n, nil
			}
		}
	}
	if required {
		return 0, fmt.Errorf("%w: config.json has no %s for the full-attention layers", model.ErrExport, key)
	}
	return -1, nil
}

// gemma4ExpertLength writes expert_feed_forward_length from
// expert_intermediate_size or moe_intermediate_size (one of them must be
// present, null writes nothing: find_hparam).
func gemma4ExpertLength(m *model.Meta) error {
	for _, k := range []string{"expert_intermediate_size", "moe_intermediate_size"} {
		if m.H.Has(k) {
			if m.H.Raw(k) == nil {
				return nil
			}
			return m.ReqU32("expert_feed_forward_length", k)
		}
	}
	return fmt.Errorf("%w: config.json has neither expert_intermediate_size nor moe_intermediate_size (llama.cpp's converter requires one)", model.ErrExport)
}

// gemma4DoubleWide writes the per-layer feed-forward lengths when
// use_double_wide_mlp: twice intermediate_size on the KV-shared layers.
func gemma4DoubleWide(m *model.Meta) error {
	if on, ok, err := m.H.FindBool("use_double_wide_mlp"); err != nil || !ok || !on {
		return err
	}
	ff, err := m.H.ReqU32("intermediate_size")
	if err != nil {
		return err
	}
	shared, err := m.H.ReqInt("num_kv_shared_layers")
	if err != nil {
		return err
	}
	first := m.BlockCount - shared
	arr := make([]int32, m.BlockCount)
	for l := range arr {
		arr[l] = int32(ff)
		if int64(l) >= first {
			arr[l] = int32(2 * ff)
		}
	}
	m.Set(m.ArchKey("feed_forward_length"), gguf.NewValue(arr))
	return nil
}

// gemma4KVHeads writes the per-layer KV head counts when the full layers
// have their own (num_global_key_value_heads or per_layer_config).
func gemma4KVHeads(m *model.Meta, types []string, swa []bool) error {
	full, err := gemma4FullValue(m.H, types, "num_global_key_value_heads", "num_key_value_heads", false)
	if err != nil || full < 0 {
		return err
	}
	kv, ok, err := m.H.FindU32("num_key_value_heads")
	if err != nil || !ok {
		return err
	}
	arr := make([]int32, len(swa))
	for i, s := range swa {
		arr[i] = int32(full)
		if s {
			arr[i] = int32(kv)
		}
	}
	m.Set(m.ArchKey("attention.head_count_kv"), gguf.NewValue(arr))
	return nil
}

// gemma4RopeSWA writes rope.dimension_count_swa: head_dim times the
// top-level rope_parameters' partial_rotary_factor (default 1).
func gemma4RopeSWA(m *model.Meta) error {
	f, err := m.Rope.Top().FloatOr("partial_rotary_factor", 1.0)
	if err != nil {
		return err
	}
	hd, err := m.H.ReqU32("head_dim")
	if err != nil {
		return err
	}
	return m.U32("rope.dimension_count_swa", int64(float64(hd)*f))
}

// gemma4Extra is Gemma4Model.generate_extra_tensors: the full layers'
// proportional rope as factors, 1 for the rotated pairs and 1e30 for the
// others.
func gemma4Extra(h *model.HParams, rope *model.Rope) ([]model.ExtraTensor, []gguf.KV, error) {
	if _, _, ok := rope.Top().Get("full_attention"); !ok {
		return nil, nil, fmt.Errorf("%w: config.json rope_parameters has no full_attention entry", model.ErrExport)
	}
	if t, err := rope.RopeType(); err != nil || t != "proportional" {
		if err == nil {
			err = fmt.Errorf("%w: gemma4 full-attention rope_type %q (llama.cpp's converter requires \"proportional\")", model.ErrExport, t)
		}
		return nil, nil, err
	}
	types, err := gemma4HPLayerTypes(h)
	if err != nil {
		return nil, nil, err
	}
	full, err := gemma4FullValue(h, types, "global_head_dim", "head_dim", true)
	if err != nil {
		return nil, nil, err
	}
	prf, ok, err := rope.Float("partial_rotary_factor")
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: config.json rope_parameters.full_attention has no partial_rotary_factor", model.ErrExport)
		}
		return nil, nil, err
	}
	nRot := int64(float64(full) * prf / 2)
	half := int64(float64(full) / 2)
	if full > 1<<20 || nRot < 0 || nRot > half {
		return nil, nil, fmt.Errorf("%w: gemma4 rope: %d rotated of %d pairs", model.ErrExport, nRot, half)
	}
	vals := make([]float32, half)
	for i := range vals {
		vals[i] = 1e30
		if int64(i) < nRot {
			vals[i] = 1
		}
	}
	return []model.ExtraTensor{{Name: "rope_freqs.weight", Values: vals}}, nil, nil
}
