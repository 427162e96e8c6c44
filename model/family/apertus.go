package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// Apertus is mlx-lm's apertus: q/k norms, an up/down MLP with a XieLU
// activation holding four scalars, attention_layernorm and
// feedforward_layernorm; every ModelArgs size and flag required. GGUF:
// llama.cpp's ApertusModel, LlamaModel without the Q/K permutation, the
// xIELU scalars as per-layer KV arrays.
var Apertus = &model.Family{
	Name:  "apertus",
	Types: []string{"apertus"},
	MLX: model.MLX{LegacyRope: true, Build: buildApertus, Rules: []model.SanitizeRule{
		model.Transform{Match: []model.Match{model.Suffix("alpha_p"), model.Suffix("alpha_n")}, Op: model.ValueSqueeze},
		model.TiedHead{},
	}},
	GGUF: &model.GGUF{
		Types: []string{"apertus"}, Arch: "apertus", Vocab: "apertus", SetVocab: llamaVocab, TokenizerClass: "LlamaTokenizerFast",
		Layer:  model.WithLayer(map[string]string{"attention_layernorm": "attn_norm", "feedforward_layernorm": "ffn_norm"}),
		Params: llamaParams, Extra: llamaExtra,
		LayerArrays: map[string]string{"mlp.act_fn.alpha_p": "xielu.alpha_p", "mlp.act_fn.alpha_n": "xielu.alpha_n",
			"mlp.act_fn.beta": "xielu.beta", "mlp.act_fn.eps": "xielu.eps"},
		Configs: map[string]*model.HFConfig{"apertus": {Defaults: map[string]any{"vocab_size": 131072, "max_position_embeddings": 65536,
			"hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "rms_norm_eps": 1e-5, "rope_theta": 12000000.0,
			"attention_bias": false, "tie_word_embeddings": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

func buildApertus(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "mlp_bias", "num_attention_heads",
		"attention_bias", "rms_norm_eps", "vocab_size", "num_key_value_heads", "max_position_embeddings", "post_norm", "qk_norm",
		"tie_word_embeddings"); err != nil {
		return nil, err
	}
	if err := checkRopeTheta(c); err != nil {
		return nil, err
	}
	d, err := model.ReadDims(c)
	if err != nil {
		return nil, err
	}
	layers, err := model.LayerCount(c)
	if err != nil {
		return nil, err
	}
	kv, err := c.PosInt("num_key_value_heads")
	if err != nil {
		return nil, err
	}
	mlpBias, err := c.BoolOr("mlp_bias", false)
	if err != nil {
		return nil, err
	}
	tie, err := c.BoolOr("tie_word_embeddings", false)
	if err != nil {
		return nil, err
	}
	headDim := d.Hidden / d.Heads
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, false, false)
		b.Norm(p+".self_attn.q_norm", headDim)
		b.Norm(p+".self_attn.k_norm", headDim)
		b.Linear(p+".mlp.up_proj", d.Hidden, d.Inter, mlpBias)
		b.Linear(p+".mlp.down_proj", d.Inter, d.Hidden, mlpBias)
		b.Scalars(p+".mlp.act_fn", "alpha_p", "alpha_n", "beta", "eps")
		b.Norm(p+".attention_layernorm", d.Hidden)
		b.Norm(p+".feedforward_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}
