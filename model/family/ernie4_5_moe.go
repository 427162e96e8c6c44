package family

import (
	"slices"
	"strconv"

	"github.com/mlxconv/mlxconv/internal/pyjson"

	"github.com/mlxconv/mlxconv/model"
)

// Ernie45MoE is mlx-lm's ernie4_5_moe: MoE layers between
// moe_layer_start_index and moe_layer_end_index every moe_layer_interval,
// optional shared experts; the MTP block and the router's
// e_score_correction_bias are dropped.
var Ernie45MoE = &model.Family{
	Name:  "ernie4_5_moe",
	Types: []string{"ernie4_5_moe"},
	MLX: model.MLX{LegacyRope: true, Build: buildErnie45MoE, Rules: []model.SanitizeRule{
		model.Drop{model.Contains("mtp_block."), model.Contains("mtp_linear_proj."), model.Contains("mtp_hidden_norm."),
			model.Contains("mtp_emb_norm."), model.Contains("e_score_correction_bias")},
		model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
			Names: [][2]string{{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}}, Parts: []string{"weight"}, Optional: true},
			Layers: "model.layers.", Block: "mlp", Count: "moe_num_experts"},
	}},
}

// ernieMoE are the MoE settings of ernie4_5_moe's ModelArgs.
type ernieMoE struct {
	experts, start, end, interval, inter, shared int
}

// intOrList reads an int or a list of ints (reduced by pick) at key, def
// when absent or null.
func intOrList(c model.Config, key string, def int, pick func([]int) int) (int, error) {
	v, _ := c.Value(key)
	if _, isList := v.([]pyjson.Value); !isList {
		return c.IntOr(key, def)
	}
	l, err := c.IntList(key)
	if err == nil && len(l) == 0 {
		err = c.Errf(key, "is an empty list")
	}
	if err != nil {
		return def, err
	}
	return pick(l), nil
}

func readErnieMoE(c model.Config, layers, inter int) (m ernieMoE, err error) {
	err = model.Steps(
		func() (err error) { m.experts, err = c.ReqInt("moe_num_experts"); return },
		func() (err error) { m.start, err = intOrList(c, "moe_layer_start_index", 0, slices.Min[[]int]); return },
		func() (err error) {
			m.end, err = intOrList(c, "moe_layer_end_index", layers-1, slices.Max[[]int])
			return
		},
		func() (err error) { m.interval, err = c.IntOr("moe_layer_interval", 1); return },
		func() (err error) { m.inter, err = c.IntOr("moe_intermediate_size", 0); return },
		func() (err error) { m.shared, err = c.IntOr("moe_num_shared_experts", 0); return },
		func() error { return ernieGateAct(c) },
	)
	if err == nil && m.interval == 0 {
		err = c.Errf("moe_layer_interval", "is 0")
	}
	if m.inter == 0 {
		m.inter = inter // moe_intermediate_size or intermediate_size
	}
	return m, err
}

func ernieGateAct(c model.Config) error {
	if act, ok := c.Str("moe_gate_act"); ok && act != "softmax" && act != "sigmoid" {
		return c.Errf("moe_gate_act", "is %q, not supported", act)
	}
	return nil
}

func buildErnie45MoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeysRope(c, "hidden_size", "intermediate_size", "model_type", "max_position_embeddings",
		"num_attention_heads", "num_key_value_heads", "num_hidden_layers", "rms_norm_eps", "vocab_size", "rope_theta",
		"use_bias", "tie_word_embeddings", "moe_num_experts"); err != nil {
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
	var kv, headDim int
	var bias, tie bool
	err = model.Steps(
		func() (err error) { kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { headDim, err = c.IntOr("head_dim", 0); return },
		func() (err error) { bias, err = c.BoolOr("use_bias", false); return },
		func() (err error) { tie, err = c.BoolOr("tie_word_embeddings", false); return },
	)
	if err != nil {
		return nil, err
	}
	m, err := readErnieMoE(c, layers, d.Inter)
	if err != nil {
		return nil, err
	}
	if headDim == 0 {
		headDim = d.Hidden / d.Heads
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, bias, bias)
		if (l+1)%m.interval == 0 && l >= m.start && l <= m.end {
			b.Linear(p+".mlp.gate", d.Hidden, m.experts, false)
			b.SwitchGLUBias(p+".mlp.switch_mlp", d.Hidden, m.inter, m.experts, bias)
			if m.shared > 0 {
				b.MLP(p+".mlp.shared_experts", d.Hidden, m.inter*m.shared, bias)
			}
		} else {
			b.MLP(p+".mlp", d.Hidden, d.Inter, bias)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}
