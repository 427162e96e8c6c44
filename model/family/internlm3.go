package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// InternLM3 is mlx-lm's internlm3: qkv_bias on all four attention
// projections, bias on the MLP, head_dim from the hidden size, untied by
// default; sanitize drops the attention.rope.inv_freq buffers.
var InternLM3 = &model.Family{
	Name:  "internlm3",
	Types: []string{"internlm3"},
	MLX: (&model.Dense{
		Required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
		HeadDim:  model.HeadDimFromHidden, AttnBias: "qkv_bias", MlpBias: "bias",
		Norms: model.TwoNorms, Check: checkInternLM3Rope, Rules: []model.SanitizeRule{model.Drop{model.Contains("attention.rope.inv_freq")}},
	}).MLX(),
	// llama.cpp's InternLM3Model: a llama GGUF (Q/K and their biases
	// permuted, no rope_freqs) with a SentencePiece vocabulary. config.json
	// is read raw (transformers has no internlm3 config class).
	GGUF: &model.GGUF{
		Types: []string{"internlm3"}, Arch: "llama", Vocab: "internlm3", SetVocab: internLM3Vocab, PermuteQK: true,
		Layer: model.CommonLayer, Params: llamaParams,
	},
}

// internLM3Vocab is InternLM3Model.set_vocab: SentencePiece, the
// tokenizer_config.json add_prefix_space, and a special <|im_end|> added
// token as eos when the tokenizer has an eos.
func internLM3Vocab(l model.VocabLoader) error {
	tc, err := spmPrefixSpaceVocab(l)
	if err != nil {
		return err
	}
	dec, _ := tc["added_tokens_decoder"].(map[string]any)
	for id, v := range dec {
		tok, _ := v.(map[string]any)
		if special, _ := tok["special"].(bool); !special || tok["content"] != "<|im_end|>" || tc["eos_token"] == nil {
			continue
		}
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return l.Errorf("added_tokens_decoder id %q is not a number", id)
		}
		return l.SetTokenID("eos", n)
	}
	return nil
}

// checkInternLM3Rope is ModelArgs.__post_init__: a rope_scaling has
// factor and rope_type, and rope_type is linear or dynamic.
func checkInternLM3Rope(c model.Config) error {
	rs, err := ropeScalingKeys(c, "factor", "rope_type")
	if rs == nil || err != nil {
		return err
	}
	if t, _ := rs.Get("rope_type"); t != "linear" && t != "dynamic" {
		return c.Errf("rope_scaling", "rope_type is %s, want linear or dynamic", model.Describe(t))
	}
	return nil
}

// ropeScalingKeys: a truthy rope_scaling must be an object holding keys
// (the ModelArgs.__post_init__ check several models share). It returns
// the object, nil when rope_scaling is absent or falsy.
func ropeScalingKeys(c model.Config, keys ...string) (*pyjson.Object, error) {
	rs, ok := c.Value("rope_scaling")
	if !ok || !model.Truthy(rs) {
		return nil, nil
	}
	o := c.Object("rope_scaling")
	if o == nil {
		return nil, c.Errf("rope_scaling", "is %s, want an object", model.Describe(rs))
	}
	for _, k := range keys {
		if _, ok := o.Get(k); !ok {
			return nil, c.Errf("rope_scaling", "has no %q", k)
		}
	}
	return o, nil
}
