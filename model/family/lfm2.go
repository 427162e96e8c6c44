package family

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// LFM2 is mlx-lm's lfm2: short-convolution and attention layers (by
// full_attn_idxs or layer_types), the embedding tied as the head.
var LFM2 = &model.Family{
	Name:  "lfm2",
	Types: []string{"lfm2"},
	MLX:   model.MLX{Build: buildLFM2, Rules: []model.SanitizeRule{lfm2Conv}},
	GGUF: &model.GGUF{
		Types: []string{"lfm2"}, Arch: "lfm2", Vocab: "lfm2", SetVocab: model.VocabLoader.BPE, Params: lfm2Params,
		Layer: model.WithLayer(lfm2Layer), Global: lfm2Global, Tensors: lfm2Tensors,
	},
}

// lfm2Layer is what LFM2Model maps besides the llama-like names (its MLP is
// w1/w3/w2, its attention output out_proj, its q/k norms *_layernorm).
var lfm2Layer = map[string]string{
	"operator_norm": "attn_norm", "ffn_norm": "ffn_norm",
	"conv.conv": "shortconv.conv", "conv.in_proj": "shortconv.in_proj", "conv.out_proj": "shortconv.out_proj",
	"self_attn.out_proj": "attn_output", "self_attn.q_layernorm": "attn_q_norm", "self_attn.k_layernorm": "attn_k_norm",
	"feed_forward.w1": "ffn_gate", "feed_forward.w3": "ffn_up", "feed_forward.w2": "ffn_down",
}

var (
	// lfm2Global: the norm after the embedding is the final norm.
	lfm2Global = map[string]string{"model.embedding_norm": "token_embd_norm"}
	// lfm2Tensors: the short convolution's [H, 1, L] squeezed to 2-D.
	lfm2Tensors = map[string]model.TensorRule{"shortconv.conv.weight": {Squeeze: true}}
)

// lfm2Params is LFM2Model.set_gguf_parameters: TextModel's with
// head_count_kv per layer (0 for "conv" layers), then vocab_size, the
// short-conv cache length, norm_eps and the adjusted feed-forward size.
func lfm2Params(m *model.Meta) error {
	if err := lfm2KV(m, func(t string) bool { return t != "conv" }); err != nil {
		return err
	}
	ff, err := lfm2FFHP(m.H)
	if err != nil {
		return err
	}
	return model.Steps(
		func() error { return m.ReqU32("vocab_size", "vocab_size") },
		func() error { return m.ReqU32("shortconv.l_cache", "conv_L_cache") },
		func() error { return m.ReqF32("attention.layer_norm_rms_epsilon", "norm_eps") },
		func() error { return m.U32("feed_forward_length", ff) },
	)
}

// lfm2KV writes TextModel's parameters with num_key_value_heads as the
// per-layer list the LFM2 converters make of it from layer_types (attn:
// which layer types keep the heads).
func lfm2KV(m *model.Meta, attn func(t string) bool) error {
	types, err := hpStrings(m.H, "layer_types")
	if err != nil {
		return err
	}
	kv, err := m.H.ReqInt("num_key_value_heads")
	if err != nil {
		return err
	}
	if err := model.TextParams(m); err != nil {
		return err
	}
	return m.LayerArray("attention.head_count_kv", len(types), kv, func(l int) bool { return attn(types[l]) })
}

// lfm2FFHP is LFM2Model._add_feed_forward_length: block_ff_dim (or
// intermediate_size), with block_auto_adjust_ff_dim 2/3 of it times
// block_ffn_dim_multiplier (unless null), rounded up to block_multiple_of.
func lfm2FFHP(h *model.HParams) (int64, error) {
	ff, err := h.ReqInt("block_ff_dim", "intermediate_size")
	if err != nil {
		return 0, err
	}
	adjust, ok, err := h.FindBool("block_auto_adjust_ff_dim")
	if err != nil || !ok {
		return 0, hpMissing(err, "block_auto_adjust_ff_dim")
	}
	if !adjust {
		return ff, nil
	}
	multiple, err := h.ReqInt("block_multiple_of")
	if err != nil {
		return 0, err
	}
	ff = int64(2 * float64(ff) / 3)
	if mult, ok, err := h.FindFloat("block_ffn_dim_multiplier"); err != nil {
		return 0, err
	} else if ok {
		ff = int64(math.Trunc(mult * float64(ff)))
	}
	if multiple <= 0 {
		return 0, fmt.Errorf("%w: block_multiple_of is %d", model.ErrExport, multiple)
	}
	return multiple * ((ff + multiple - 1) / multiple), nil
}

// hpMissing is err, or for a missing required key an ErrExport naming it.
func hpMissing(err error, key string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: config.json has no %q", model.ErrExport, key)
}

// hpStrings is the list of strings at key of the converter's hparams.
func hpStrings(h *model.HParams, key string) ([]string, error) {
	raw, ok := h.Get(key)
	list, isList := raw.([]pyjson.Value)
	if !ok || !isList {
		return nil, fmt.Errorf("%w: config.json %q is %s, want a list of strings", model.ErrExport, key, model.Describe(raw))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, isStr := e.(string)
		if !isStr {
			return nil, fmt.Errorf("%w: config.json %q holds %s, want strings", model.ErrExport, key, model.Describe(e))
		}
		out[i] = s
	}
	return out, nil
}

// lfm2Conv is the ShortConv weight's transpose(0, 2, 1) from [H, 1, L].
var lfm2Conv = model.Transform{Match: []model.Match{model.Contains("conv.weight")}, If: model.LastDimOverDim1, Op: model.ValueSwapLast2}

func buildLFM2(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "block_dim", "block_multiple_of", "block_ffn_dim_multiplier", "block_auto_adjust_ff_dim"); err != nil {
		return nil, err
	}
	s, err := readLFM2(c)
	if err != nil {
		return nil, err
	}
	var dim, multiple int
	if err := posInts(c, posInt{"block_dim", &dim}, posInt{"block_multiple_of", &multiple}); err != nil {
		return nil, err
	}
	ff, ok, err := c.OptInt("block_ff_dim")
	if err == nil && !ok {
		if ff, ok, err = c.OptInt("intermediate_size"); err == nil && !ok {
			err = c.Errf("block_ff_dim", "is missing, and so is intermediate_size")
		}
	}
	if err != nil {
		return nil, err
	}
	if ff, err = lfm2FF(c, ff, multiple); err != nil {
		return nil, err
	}
	return s.build(func(b *model.Builder, p string, _ int) {
		b.Linear(p+".w1", dim, ff, false)
		b.Linear(p+".w3", dim, ff, false)
		b.Linear(p+".w2", ff, dim, false)
	}), nil
}

// lfm2FF is the MLP's hidden size: with block_auto_adjust_ff_dim, 2/3 of
// ff, times block_ffn_dim_multiplier (unless null), rounded up to
// multiple.
func lfm2FF(c model.Config, ff, multiple int) (int, error) {
	adjust, err := c.BoolOr("block_auto_adjust_ff_dim", false)
	if err != nil || !adjust {
		return ff, err
	}
	ff = int(2 * float64(ff) / 3)
	if raw, ok := c.Value("block_ffn_dim_multiplier"); ok {
		n, isNum := raw.(pyjson.Number)
		f, ferr := n.Float64()
		if !isNum || ferr != nil || f < 0 || f > 1e6 {
			return 0, c.Errf("block_ffn_dim_multiplier", "is %s, want a number", model.Describe(raw))
		}
		ff = int(math.Trunc(f * float64(ff)))
	}
	return multiple * ((ff + multiple - 1) / multiple), nil
}

// lfm2Shape is what the LFM2 models share: the attention and ShortConv
// layers.
type lfm2Shape struct {
	vocab, hidden, heads, kv, convL, layers int
	convBias                                bool
	attn                                    []int
}

// readLFM2 reads the keys lfm2 and lfm2_moe share.
func readLFM2(c model.Config) (s lfm2Shape, err error) {
	if err = model.NeedKeys(c, "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
		"num_key_value_heads", "max_position_embeddings", "norm_eps", "conv_bias", "conv_L_cache"); err != nil {
		return
	}
	if err = posInts(c, posInt{"vocab_size", &s.vocab}, posInt{"hidden_size", &s.hidden},
		posInt{"num_attention_heads", &s.heads}, posInt{"conv_L_cache", &s.convL}); err != nil {
		return
	}
	if s.layers, err = model.LayerCount(c); err != nil {
		return
	}
	if s.kv, err = c.IntOr("num_key_value_heads", s.heads); err != nil {
		return
	}
	if s.convBias, err = c.BoolOr("conv_bias", false); err != nil {
		return
	}
	s.attn, err = fullAttnLayers(c)
	return
}

// fullAttnLayers is full_attn_idxs, or else the indices of the
// "full_attention" entries of layer_types; mlx-lm needs at least one.
func fullAttnLayers(c model.Config) ([]int, error) {
	if c.Has("full_attn_idxs") {
		idx, err := c.IntList("full_attn_idxs")
		if err == nil && len(idx) == 0 {
			err = c.Errf("full_attn_idxs", "is empty (mlx-lm needs an attention layer)")
		}
		return idx, err
	}
	types, err := strList(c, "layer_types")
	if err != nil {
		return nil, err
	}
	var idx []int
	for i, t := range types {
		if t == "full_attention" {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, c.Errf("layer_types", "has no \"full_attention\" layer and there is no full_attn_idxs")
	}
	return idx, nil
}

// strList is the list of strings at key, which must be present.
func strList(c model.Config, key string) ([]string, error) {
	raw, ok := c.Value(key)
	if !ok {
		return nil, c.Errf(key, "is missing (required)")
	}
	list, isList := raw.([]pyjson.Value)
	if !isList {
		return nil, c.Errf(key, "is %s, want a list of strings", model.Describe(raw))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, isStr := e.(string)
		if !isStr {
			return nil, c.Errf(key, "holds %s, want strings", model.Describe(e))
		}
		out[i] = s
	}
	return out, nil
}

// build returns the tree: embed_tokens, the layers (operator, then
// feed_forward made by ffn, then the two norms), embedding_norm; no head.
func (s lfm2Shape) build(ffn func(b *model.Builder, p string, layer int)) *model.Tree {
	var b model.Builder
	b.Embedding("model.embed_tokens", s.vocab, s.hidden)
	headDim := s.hidden / s.heads
	for l := 0; l < s.layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		if slices.Contains(s.attn, l) {
			b.Norm(p+".self_attn.q_layernorm", headDim)
			b.Norm(p+".self_attn.k_layernorm", headDim)
			b.Linear(p+".self_attn.q_proj", s.hidden, s.heads*headDim, false)
			b.Linear(p+".self_attn.k_proj", s.hidden, s.kv*headDim, false)
			b.Linear(p+".self_attn.v_proj", s.hidden, s.kv*headDim, false)
			b.Linear(p+".self_attn.out_proj", s.heads*headDim, s.hidden, false)
		} else {
			b.DepthwiseConv1d(p+".conv.conv", s.hidden, s.convL, s.convBias)
			b.Linear(p+".conv.in_proj", s.hidden, 3*s.hidden, s.convBias)
			b.Linear(p+".conv.out_proj", s.hidden, s.hidden, s.convBias)
		}
		ffn(&b, p+".feed_forward", l)
		b.Norm(p+".operator_norm", s.hidden)
		b.Norm(p+".ffn_norm", s.hidden)
	}
	b.Norm("model.embedding_norm", s.hidden)
	return b.Tree(s.layers)
}
