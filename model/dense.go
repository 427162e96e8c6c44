package model

import (
	"cmp"
	"strconv"
)

// ---- dense decoders: llama (and its remaps), qwen2, qwen3, gemma, gemma2
// and phi3 each describe themselves as one Dense value. They share one
// builder: embed_tokens; per layer the attention (with q/k norms for
// qwen3), the MLP and the norms; the final norm; lm_head unless tied.

// MLX returns the mlx-lm part of a dense decoder family.
func (a *Dense) MLX() MLX {
	return MLX{Build: a.build, Rules: a.Rules, Pred: a.Pred, LegacyRope: a.LegacyRope}
}

// TwoNorms are the per-layer norms of most dense decoders.
var TwoNorms = []string{"input_layernorm", "post_attention_layernorm"}

// HeadDimRule is how a dense decoder gets its attention head size.
type HeadDimRule uint8

const (
	HeadDimFromHidden HeadDimRule = iota // hidden_size / num_attention_heads; head_dim is not read
	HeadDimRequired                      // head_dim, a positive integer
	HeadDimOptional                      // head_dim, hidden_size / num_attention_heads when absent, null or 0 (falsy in Python)
)

// Dense is what differs between the dense decoders. The builder reads
// the config in field order: required keys, the sizes, the layer count,
// num_key_value_heads and head_dim, the bias flags, tie_word_embeddings,
// then check; the first failure is the error.
type Dense struct {
	Required []string // ModelArgs fields without a default, in field order

	LayerTypes   bool // a layer_types list overrides num_hidden_layers (one block per type)
	KvRequired   bool // num_key_value_heads must be a positive integer; else it defaults to the head count
	HeadDim      HeadDimRule
	HeadDimFirst bool // head_dim is read before num_key_value_heads (and its error wins)

	AttnBias string // key of the q/k/v/o projections' bias flag (default false); "" for none
	QkvBias  bool   // q/k/v projections always have a bias
	OBias    string // key of o_proj's own bias flag (default false); "": o_proj follows AttnBias
	MlpBias  string // key of the MLP's bias flag (default false); "" for none

	TieDefault bool // tie_word_embeddings when absent
	AlwaysTied bool // tie_word_embeddings is not read and there is never an lm_head

	Fused  bool // self_attn.qkv_proj and mlp.gate_up_proj, without biases (phi3)
	QkNorm bool // self_attn.q_norm and k_norm over head_dim
	// QkNormFull: the q/k norms span every head (heads*head_dim and
	// kv*head_dim, olmo2), not one head.
	QkNormFull bool
	// QkNormKey is the config flag (default true) QkNorm depends on; ""
	// for none. QkNormNames renames q_norm and k_norm.
	QkNormKey   string
	QkNormNames [2]string
	Norms       []string // per-layer norms, after the MLP

	Check      func(c Config) error // a last config check; nil for none
	Rules      []SanitizeRule       // the model's sanitize; nil: it has none
	Pred       QuantPred            // the model's quant_predicate; nil for none
	LegacyRope bool                 // see MLX.LegacyRope
}

func (a *Dense) build(c Config, _ Tensors) (*Tree, error) {
	if err := NeedKeys(c, a.Required...); err != nil {
		return nil, err
	}
	d, err := ReadDims(c)
	if err != nil {
		return nil, err
	}
	layers, err := a.layerCount(c)
	if err != nil {
		return nil, err
	}
	kv, headDim, err := a.readHeads(c, d)
	if err != nil {
		return nil, err
	}
	f, err := a.readFlags(c)
	if err != nil {
		return nil, err
	}
	if a.Check != nil {
		if err := a.Check(c); err != nil {
			return nil, err
		}
	}
	var b Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		a.layer(&b, "model.layers."+strconv.Itoa(l), d, kv, headDim, f)
	}
	b.Norm("model.norm", d.Hidden)
	if !f.tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}

// readHeads returns the key/value head count and the head size; which
// error comes first when both are wrong follows HeadDimFirst.
func (a *Dense) readHeads(c Config, d Dims) (kv, headDim int, err error) {
	kv, kvErr := c.IntOr("num_key_value_heads", d.Heads)
	if a.KvRequired {
		kv, kvErr = c.PosInt("num_key_value_heads")
	}
	headDim, hdErr := a.readHeadDim(c, d)
	err = cmp.Or(kvErr, hdErr)
	if a.HeadDimFirst {
		err = cmp.Or(hdErr, kvErr)
	}
	return kv, headDim, err
}

// denseFlags are the config switches of a Dense model.
type denseFlags struct {
	attnBias, oBias, mlpBias, qkNorm, tie bool
}

func (a *Dense) readFlags(c Config) (f denseFlags, err error) {
	if f.attnBias, err = biasFlag(c, a.AttnBias); err != nil {
		return f, err
	}
	f.oBias = f.attnBias
	if a.OBias != "" {
		if f.oBias, err = biasFlag(c, a.OBias); err != nil {
			return f, err
		}
	}
	if f.mlpBias, err = biasFlag(c, a.MlpBias); err != nil {
		return f, err
	}
	f.qkNorm = a.QkNorm
	if a.QkNorm && a.QkNormKey != "" {
		if f.qkNorm, err = c.BoolOr(a.QkNormKey, true); err != nil {
			return f, err
		}
	}
	f.tie = a.AlwaysTied
	if !a.AlwaysTied {
		f.tie, err = c.BoolOr("tie_word_embeddings", a.TieDefault)
	}
	return f, err
}

// layer adds the modules of the decoder layer at p.
func (a *Dense) layer(b *Builder, p string, d Dims, kv, headDim int, f denseFlags) {
	if a.Fused {
		b.Linear(p+".self_attn.qkv_proj", d.Hidden, d.Heads*headDim+2*kv*headDim, false)
		b.Linear(p+".self_attn.o_proj", d.Heads*headDim, d.Hidden, false)
		b.Linear(p+".mlp.gate_up_proj", d.Hidden, 2*d.Inter, false)
		b.Linear(p+".mlp.down_proj", d.Inter, d.Hidden, false)
	} else {
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, a.QkvBias || f.attnBias, f.oBias)
		if f.qkNorm {
			a.qkNorms(b, p+".self_attn.", d.Heads, kv, headDim)
		}
		b.MLP(p+".mlp", d.Hidden, d.Inter, f.mlpBias)
	}
	for _, n := range a.Norms {
		b.Norm(p+"."+n, d.Hidden)
	}
}

// qkNorms adds the q/k norms of the attention at p (ending in a dot).
func (a *Dense) qkNorms(b *Builder, p string, heads, kv, headDim int) {
	q, k := cmp.Or(a.QkNormNames[0], "q_norm"), cmp.Or(a.QkNormNames[1], "k_norm")
	if a.QkNormFull {
		b.Norm(p+q, heads*headDim)
		b.Norm(p+k, kv*headDim)
		return
	}
	b.Norm(p+q, headDim)
	b.Norm(p+k, headDim)
}

// layerCount returns num_hidden_layers, or the length of layer_types for
// a model that builds one block per layer type.
func (a *Dense) layerCount(c Config) (int, error) {
	layers, err := LayerCount(c)
	if err != nil || !a.LayerTypes {
		return layers, err
	}
	n, ok, err := c.ListLen("layer_types")
	if err != nil || !ok {
		return layers, err
	}
	if n > MaxLayers {
		return 0, c.Errf("layer_types", "has %d entries, too many", n)
	}
	return n, nil
}

func (a *Dense) readHeadDim(c Config, d Dims) (int, error) {
	switch a.HeadDim {
	case HeadDimRequired:
		return c.PosInt("head_dim")
	case HeadDimOptional:
		n, err := c.IntOr("head_dim", d.Hidden/d.Heads)
		if n == 0 {
			n = d.Hidden / d.Heads // head_dim=0 is falsy in Python
		}
		return n, err
	}
	return d.Hidden / d.Heads, nil
}

// biasFlag reads the bias flag at key (default false); no key is false.
func biasFlag(c Config, key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	return c.BoolOr(key, false)
}
