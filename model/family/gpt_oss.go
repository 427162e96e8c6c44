package family

import (
	"slices"
	"strconv"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// GptOss is mlx-lm's gpt_oss: attention with biases and per-head sinks,
// a biased router and biased SwitchGLU experts in every layer, 8-bit
// routers. Its sanitize reads the Hub's MXFP4 experts (*_blocks uint8
// [E, out, in/32, 16] viewed as uint32 [E, out, in/8], *_scales as the
// scales) and splits the interleaved gate_up_proj into gate_proj (even
// rows) and up_proj (odd rows).
var GptOss = &model.Family{
	Name:  "gpt_oss",
	Types: []string{"gpt_oss"},
	MLX:   model.MLX{LegacyRope: true, Build: buildGptOss, Rules: gptOssRules, Pred: model.RouterPred("router")},
}

// gptOssRules is mlx-lm's sanitize. Its early return (a checkpoint with a
// gate_proj.weight is already sanitized) needs no rule: such a checkpoint
// has none of the names the rules rewrite.
var gptOssRules = []model.SanitizeRule{
	model.Split{From: "gate_up_proj_bias", Into: []string{"gate_proj.bias", "up_proj.bias"}, Axis: -1, Interleave: true},
	model.Bitcast{Match: []model.Match{model.Contains("gate_up_proj_blocks"), model.Contains("down_proj_blocks")}, DType: "U32", FlattenLast2: true},
	model.Rename{From: "gate_up_proj_blocks", To: "gate_up_proj.weight"},
	model.Rename{From: "gate_up_proj_scales", To: "gate_up_proj.scales"},
	model.Rename{From: "down_proj_blocks", To: "down_proj.weight"},
	model.Rename{From: "down_proj_scales", To: "down_proj.scales"},
	model.Rename{From: "down_proj_bias", To: "down_proj.bias"},
	model.Split{From: "gate_up_proj", Into: []string{"gate_proj", "up_proj"}, Axis: -2, Interleave: true},
}

func buildGptOss(c model.Config, _ model.Tensors) (*model.Tree, error) {
	var layers, experts, vocab, hidden, inter, headDim, heads, kv int
	if err := model.IntsOr(c, model.IntDefault{Key: "num_hidden_layers", Dst: &layers, Def: 36},
		model.IntDefault{Key: "num_local_experts", Dst: &experts, Def: 128},
		model.IntDefault{Key: "vocab_size", Dst: &vocab, Def: 201088},
		model.IntDefault{Key: "hidden_size", Dst: &hidden, Def: 2880},
		model.IntDefault{Key: "intermediate_size", Dst: &inter, Def: 2880},
		model.IntDefault{Key: "head_dim", Dst: &headDim, Def: 64},
		model.IntDefault{Key: "num_attention_heads", Dst: &heads, Def: 64},
		model.IntDefault{Key: "num_key_value_heads", Dst: &kv, Def: 8}); err != nil {
		return nil, err
	}
	if layers < 0 || layers > model.MaxLayers {
		return nil, c.Errf("num_hidden_layers", "is %d", layers)
	}
	if kv == 0 {
		return nil, c.Errf("num_key_value_heads", "is 0")
	}
	if err := checkGptOssLayerTypes(c, layers); err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", vocab, hidden)
	b.Norm("model.norm", hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.BlockParams(p+".self_attn", model.Param{Name: "sinks", Shape: []int{heads}})
		b.Attention(p+".self_attn", hidden, heads, kv, headDim, true, true)
		b.SwitchGLUBias(p+".mlp.experts", hidden, inter, experts, true)
		b.Linear(p+".mlp.router", hidden, experts, true)
		b.Norm(p+".input_layernorm", hidden)
		b.Norm(p+".post_attention_layernorm", hidden)
	}
	b.Linear("lm_head", hidden, vocab, false)
	return b.Tree(layers), nil
}

// checkGptOssLayerTypes fails as GptOssMoeModel does when layer_types (by
// default sliding, full repeated num_hidden_layers // 2 times) lacks a
// sliding or a full attention layer.
func checkGptOssLayerTypes(c model.Config, layers int) error {
	types := []string{}
	if v, ok := c.Value("layer_types"); ok && model.Truthy(v) {
		list, isList := v.([]pyjson.Value)
		if !isList {
			return c.Errf("layer_types", "is %s, want a list", model.Describe(v))
		}
		for _, t := range list {
			s, _ := t.(string)
			types = append(types, s)
		}
	} else if layers >= 2 {
		types = []string{"sliding_attention", "full_attention"}
	}
	for _, want := range []string{"sliding_attention", "full_attention"} {
		if !slices.Contains(types, want) {
			return c.Errf("layer_types", "has no %q layer", want)
		}
	}
	return nil
}
