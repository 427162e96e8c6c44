package family

import (
	"fmt"
	"strconv"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Llama4 is mlx-lm's llama4, the text model of the multimodal checkpoint:
// vision tower and projector dropped, the language model under
// "language_model."; MoE layers every interleave_moe_layer_step with fused
// gate_up_proj / down_proj expert tensors split and transposed into a
// SwitchGLU, a router and a shared expert.
var Llama4 = &model.Family{
	Name:  "llama4",
	Types: []string{"llama4"},
	MLX: model.MLX{LegacyRope: true, Build: buildLlama4, Sanitize: sanitizeLlama4, Rules: []model.SanitizeRule{
		model.Drop{model.Contains("vision_model"), model.Contains("multi_modal_projector")},
	}},
	GGUF: &model.GGUF{
		Types: []string{"llama4"}, Arch: "llama4", Vocab: "llama4", SetVocab: model.VocabLoader.BPE, Params: llama4Params, Extra: llamaExtra,
		Layer: model.WithLayer(map[string]string{
			"feed_forward.gate_proj":               "ffn_gate",
			"feed_forward.up_proj":                 "ffn_up",
			"feed_forward.down_proj":               "ffn_down",
			"feed_forward.router":                  "ffn_gate_inp",
			"feed_forward.experts.gate_proj":       "ffn_gate_exps",
			"feed_forward.experts.up_proj":         "ffn_up_exps",
			"feed_forward.experts.down_proj":       "ffn_down_exps",
			"feed_forward.shared_expert.gate_proj": "ffn_gate_shexp",
			"feed_forward.shared_expert.up_proj":   "ffn_up_shexp",
			"feed_forward.shared_expert.down_proj": "ffn_down_shexp",
		}),
		ExpertOrder: qwenMoEOrder,
		Configs: map[string]*model.HFConfig{"llama4_text": {Defaults: map[string]any{"vocab_size": 202048, "hidden_size": 5120,
			"intermediate_size": 8192, "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
			"num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000,
			"num_experts_per_tok": 1, "num_local_experts": 16, "interleave_moe_layer_step": 1, "rope_scaling": nil,
			"no_rope_layer_interval": 4, "tie_word_embeddings": false}, KVHeads: model.KVHeadsNull, HeadDimFromHidden: true}},
		TextType: "llama4_text",
	},
}

// llama4Params is Llama4Model.set_gguf_parameters: LlamaModel's with
// intermediate_size_mlp as the feed-forward length (the converter swaps
// the two sizes), the MoE interleave step and expert size, and a zero
// sliding window when every layer is full attention.
func llama4Params(m *model.Meta) error {
	return model.Steps(
		func() error { return llamaParams(m) },
		func() error {
			if m.H.Has("prefix_dense_intermediate_size") || m.H.Has("dense_intermediate_size") {
				return nil
			}
			return m.ReqU32("feed_forward_length", "intermediate_size_mlp")
		},
		func() error { return m.ReqU32("interleave_moe_layer_step", "interleave_moe_layer_step") },
		func() error { return m.ReqU32("expert_feed_forward_length", "intermediate_size") },
		func() error { return llama4SlidingWindow(m) },
	)
}

// llama4SlidingWindow writes attention.sliding_window 0 when every entry
// of layer_types (Llama4TextConfig's, derived from no_rope_layers when
// absent: a no-rope layer is chunked_attention) is full_attention.
func llama4SlidingWindow(m *model.Meta) error {
	types, err := llama4LayerTypes(m.H)
	if err != nil {
		return err
	}
	for _, t := range types {
		if t != fullAttention {
			return nil
		}
	}
	return m.U32("attention.sliding_window", 0)
}

// llama4LayerTypes is Llama4TextConfig.layer_types.
func llama4LayerTypes(h *model.HParams) ([]string, error) {
	if out, ok, err := h.StringList("layer_types"); err != nil || ok {
		return out, err
	}
	layers, err := h.ReqInt("num_hidden_layers")
	if err != nil {
		return nil, err
	}
	noRope := make([]int64, 0, layers)
	if list, ok := h.Raw("no_rope_layers").([]pyjson.Value); ok && len(list) > 0 {
		for _, e := range list {
			n, isInt := model.HPInt(e)
			if !isInt {
				return nil, model.ConfigError(h.Field("no_rope_layers"), "a list of integers", h.Raw("no_rope_layers"))
			}
			noRope = append(noRope, n)
		}
	} else {
		interval, _, err := h.FindInt("no_rope_layer_interval")
		if err != nil {
			return nil, err
		}
		if interval == 0 {
			return nil, fmt.Errorf("%w: no_rope_layer_interval is 0", model.ErrExport)
		}
		for l := int64(0); l < min(layers, model.MaxLayers); l++ {
			noRope = append(noRope, min(1, (l+1)%interval))
		}
	}
	out := make([]string, len(noRope))
	for i, n := range noRope {
		out[i] = fullAttention
		if n != 0 {
			out[i] = "chunked_attention"
		}
	}
	return out, nil
}

// llama4Dims are the text model's sizes besides model.Dims.
type llama4Dims struct {
	kv, headDim, step, interMLP, experts int
	bias                                 bool
}

func llama4TextConfig(c model.Config) (model.Config, error) {
	if err := model.NeedKeys(c, "text_config", "model_type"); err != nil {
		return model.Config{}, err
	}
	tc := c.Object("text_config")
	if tc == nil {
		return model.Config{}, c.Errf("text_config", "is not an object")
	}
	t := model.NewConfig(tc, "config.json text_config")
	return t, model.NeedKeysRope(t, "attention_bias", "attention_chunk_size", "head_dim", "hidden_size",
		"interleave_moe_layer_step", "intermediate_size", "intermediate_size_mlp", "max_position_embeddings", "model_type",
		"num_attention_heads", "num_experts_per_tok", "num_hidden_layers", "num_key_value_heads", "num_local_experts",
		"rms_norm_eps", "rope_scaling", "rope_theta", "use_qk_norm", "vocab_size")
}

func readLlama4(t model.Config, d model.Dims) (x llama4Dims, err error) {
	err = model.Steps(
		func() (err error) { x.kv, err = t.PosInt("num_key_value_heads"); return },
		func() (err error) { x.headDim, err = t.IntOr("head_dim", 0); return },
		func() (err error) { x.step, err = t.PosInt("interleave_moe_layer_step"); return },
		func() (err error) { x.interMLP, err = t.IntOr("intermediate_size_mlp", 0); return },
		func() (err error) { x.experts, err = t.ReqInt("num_local_experts"); return },
		func() (err error) { x.bias, err = t.BoolOr("attention_bias", false); return },
	)
	if x.headDim == 0 {
		x.headDim = d.Hidden / d.Heads // head_dim or hidden_size // n_heads
	}
	if x.interMLP == 0 {
		x.interMLP = d.Inter // intermediate_size or args.intermediate_size
	}
	return x, err
}

func buildLlama4(c model.Config, _ model.Tensors) (*model.Tree, error) {
	t, err := llama4TextConfig(c)
	if err != nil {
		return nil, err
	}
	d, err := model.ReadDims(t)
	if err != nil {
		return nil, err
	}
	layers, err := model.LayerCount(t)
	if err != nil {
		return nil, err
	}
	x, err := readLlama4(t, d)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("language_model.model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "language_model.model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, x.kv, x.headDim, x.bias, x.bias)
		if l%x.step == x.step-1 {
			b.SwitchGLU(p+".feed_forward.experts", d.Hidden, d.Inter, x.experts)
			b.Linear(p+".feed_forward.router", d.Hidden, x.experts, false)
			b.MLP(p+".feed_forward.shared_expert", d.Hidden, d.Inter, false)
		} else {
			b.MLP(p+".feed_forward", d.Hidden, x.interMLP, false)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("language_model.model.norm", d.Hidden)
	b.Linear("language_model.lm_head", d.Hidden, d.Vocab, false)
	return b.Tree(layers), nil
}

func sanitizeLlama4(_ *model.Tree, c model.Config, ts model.Tensors) error {
	tc := c.Object("text_config")
	layers, _ := model.NewConfig(tc, "").IntOr("num_hidden_layers", 0)
	if err := model.CheckExperts(0, layers, ts); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := "language_model.model.layers." + strconv.Itoa(l) + ".feed_forward.experts"
		if err := llama4Experts(ts, p); err != nil {
			return err
		}
	}
	return nil
}

// llama4Experts rewrites one layer's fused expert tensors: gate_up_proj
// [E, hidden, 2·inter] split along the last axis, each half and down_proj
// [E, inter, hidden] with axes 1 and 2 swapped.
func llama4Experts(ts model.Tensors, p string) error {
	if shape, ok := ts.Shape(p + ".gate_up_proj"); ok {
		views, err := model.SplitViews(shape, -1, 2)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", p+".gate_up_proj", err)
		}
		for i, name := range []string{".gate_proj.weight", ".up_proj.weight"} {
			views[i].Swap12 = true
			if err := ts.View(p+name, p+".gate_up_proj", views[i]); err != nil {
				return err
			}
		}
		ts.Pop(p + ".gate_up_proj")
	}
	if shape, ok := ts.Shape(p + ".down_proj"); ok && len(shape) > 0 {
		if err := ts.View(p+".down_proj.weight", p+".down_proj", model.View{Axis: 0, Stop: shape[0], Swap12: true}); err != nil {
			return err
		}
		ts.Pop(p + ".down_proj")
	}
	return nil
}
