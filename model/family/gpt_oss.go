package family

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// GptOss is mlx-lm's gpt_oss: attention with biases and per-head sinks,
// a biased router and biased SwitchGLU experts in every layer, 8-bit
// routers. Its sanitize reads the Hub's MXFP4 experts (*_blocks uint8
// [E, out, in/32, 16] viewed as uint32 [E, out, in/8], *_scales as the
// scales) and splits the interleaved gate_up_proj into gate_proj (even
// rows) and up_proj (odd rows).
//
// On the GGUF side it is llama.cpp's GptOssModel: the MXFP4 experts
// repacked losslessly into GGML's MXFP4 whatever the output type
// (general.file_type MOSTLY_MXFP4_MOE for f32/f16/bf16), attention sinks,
// post-attention norms, the o200k_harmony BPE vocabulary.
var GptOss = &model.Family{
	Name:  "gpt_oss",
	Types: []string{"gpt_oss"},
	MLX:   model.MLX{LegacyRope: true, Build: buildGptOss, Rules: gptOssRules, Pred: model.RouterPred("router")},
	GGUF: &model.GGUF{
		Types: []string{"gpt_oss"}, Arch: "gpt-oss", Vocab: "gpt-oss", SetVocab: model.VocabLoader.BPE, KeepMXFP4: true,
		Layer: map[string]string{
			"input_layernorm":          "attn_norm",
			"post_attention_layernorm": "post_attention_norm",
			"self_attn.q_proj":         "attn_q",
			"self_attn.k_proj":         "attn_k",
			"self_attn.v_proj":         "attn_v",
			"self_attn.o_proj":         "attn_output",
			"self_attn.sinks":          "attn_sinks.weight",
			"mlp.router":               "ffn_gate_inp",
			"mlp.experts.gate_proj":    "ffn_gate_exps",
			"mlp.experts.up_proj":      "ffn_up_exps",
			"mlp.experts.down_proj":    "ffn_down_exps",
		},
		ExpertOrder: []string{"ffn_down_exps", "ffn_gate_exps", "ffn_up_exps"},
		Params:      gptOssParams,
		MLX:         &model.MLX{LegacyRope: true, Build: buildGptOss, Sanitize: sanitizeGptOssGGUF, Pred: model.RouterPred("router")},
		Configs: map[string]*model.HFConfig{"gpt_oss": {Defaults: map[string]any{"num_hidden_layers": 36, "num_local_experts": 128,
			"vocab_size": 201088, "hidden_size": 2880, "intermediate_size": 2880, "head_dim": 64, "num_attention_heads": 64,
			"num_key_value_heads": 8, "sliding_window": 128, "rope_theta": 150000.0, "tie_word_embeddings": false,
			"max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "num_experts_per_tok": 4}, KVHeads: model.KVHeadsNull}},
	},
}

// gptOssParams is GptOssModel.set_gguf_parameters: TextModel's, the
// sliding window and the experts' feed-forward length (intermediate_size).
func gptOssParams(m *model.Meta) error {
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqU32("attention.sliding_window", "sliding_window") },
		func() error { return m.ReqU32("expert_feed_forward_length", "intermediate_size") },
	)
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

// sanitizeGptOssGGUF is what GptOssModel.modify_tensors also reads: a
// checkpoint whose experts are transformers' float layout (gate_up_proj
// [E, H, 2I] and down_proj [E, I, H], no _blocks; the dequantized
// gpt-oss re-uploads), which mlx-lm's sanitize does not take. Each is
// transposed, gate_up_proj's even and odd output rows becoming gate_proj
// and up_proj; then the model's own sanitize.
func sanitizeGptOssGGUF(m *model.Tree, c model.Config, ts model.Tensors) error {
	for _, n := range ts.Names() {
		base, ok := strings.CutSuffix(n, ".mlp.experts.gate_up_proj")
		if !ok {
			if base, ok = strings.CutSuffix(n, ".mlp.experts.down_proj"); ok {
				if err := gptOssFloatExperts(ts, n, base+".mlp.experts.down_proj.weight", 0, 1); err != nil {
					return err
				}
			}
			continue
		}
		for i, part := range []string{"gate_proj", "up_proj"} {
			if err := gptOssFloatExperts(ts, n, base+".mlp.experts."+part+".weight", i, 2); err != nil {
				return err
			}
		}
	}
	return model.ApplyRules(gptOssRules, m, c, ts)
}

// gptOssFloatExperts sets dst to src ([E, in, out]) transposed to
// [E, out/step, in], keeping every step-th output from start, and pops src
// once its last part is made.
func gptOssFloatExperts(ts model.Tensors, src, dst string, start, step int) error {
	shape, _ := ts.Shape(src)
	if len(shape) != 3 {
		return fmt.Errorf("%w: tensor %q is %v, want [experts, in, out]", model.ErrWeights, src, shape)
	}
	if err := ts.View(dst, src, model.View{Axis: 2, Start: start, Stop: shape[2], Step: step, Swap12: true}); err != nil {
		return err
	}
	if start == step-1 {
		ts.Pop(src)
	}
	return nil
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
