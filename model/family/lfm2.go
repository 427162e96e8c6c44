package family

import (
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
