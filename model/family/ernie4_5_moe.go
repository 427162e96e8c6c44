package family

import (
	"fmt"
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
		ernieStack,
	}},
	// Ernie4_5MoeModel: the MTP tensors are skipped, the router's
	// moe_statics.e_score_correction_bias kept (exp_probs_b).
	GGUF: &model.GGUF{
		Types: []string{"ernie4_5_moe"}, Arch: "ernie4_5-moe", Vocab: "ernie4_5-moe", SetVocab: ernie45Vocab,
		Layer: model.WithLayer(map[string]string{
			"mlp.gate": "ffn_gate_inp",
			"mlp.moe_statics.e_score_correction_bias": "exp_probs_b.bias",
			"mlp.switch_mlp.gate_proj":                "ffn_gate_exps",
			"mlp.switch_mlp.up_proj":                  "ffn_up_exps",
			"mlp.switch_mlp.down_proj":                "ffn_down_exps",
			"mlp.shared_experts.gate_proj":            "ffn_gate_shexp",
			"mlp.shared_experts.up_proj":              "ffn_up_shexp",
			"mlp.shared_experts.down_proj":            "ffn_down_shexp",
		}),
		ExpertOrder: []string{"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}, Params: ernie45MoEParams,
		MLX: &model.MLX{LegacyRope: true, Build: buildErnie45MoEGGUF, Rules: []model.SanitizeRule{
			model.Drop{model.Contains("mtp_block."), model.Contains("mtp_linear_proj."), model.Contains("mtp_hidden_norm."),
				model.Contains("mtp_emb_norm.")},
			ernieStack,
		}},
		Configs: map[string]*model.HFConfig{"ernie4_5_moe": {Defaults: map[string]any{"vocab_size": 103424, "hidden_size": 2560,
			"intermediate_size": 12288, "num_attention_heads": 20, "num_key_value_heads": 4, "max_position_embeddings": 131072,
			"rms_norm_eps": 1e-5, "tie_word_embeddings": true, "rope_theta": 500000.0, "rope_scaling": nil, "use_bias": false,
			"moe_intermediate_size": 1536, "moe_k": 6, "moe_num_experts": 64, "moe_num_shared_experts": 2, "moe_layer_start_index": 1,
			"moe_layer_interval": 1}}},
	},
}

var ernieStack = model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
	Names: [][2]string{{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}}, Parts: []string{"weight"}, Optional: true},
	Layers: "model.layers.", Block: "mlp", Count: "moe_num_experts"}

// ernie45MoEParams is Ernie4_5MoeModel.set_gguf_parameters: TextModel's,
// then the expert counts and sizes, the MoE layer step and leading dense
// layers, and the shared experts' size as intermediate_size //
// num_key_value_heads (what the converter writes; ERNIE 4.5's configs make
// it moe_intermediate_size * moe_num_shared_experts).
func ernie45MoEParams(m *model.Meta) error {
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqU32("expert_count", "moe_num_experts") },
		func() error { return m.ReqU32("expert_used_count", "moe_k") },
		func() error { return m.ReqU32("interleave_moe_layer_step", "moe_layer_interval") },
		func() error { return m.ReqU32("leading_dense_block_count", "moe_layer_start_index") },
		func() error { return m.OptU32("expert_feed_forward_length", "moe_intermediate_size") },
		func() error { return ernieSharedParams(m) },
	)
}

// ernieSharedParams writes the shared expert count and, for a positive
// one, intermediate_size // num_key_value_heads as their size.
func ernieSharedParams(m *model.Meta) error {
	shared, ok, err := m.H.FindInt("moe_num_shared_experts")
	if err != nil || !ok {
		return err
	}
	if err := m.U32("expert_shared_count", shared); err != nil || shared <= 0 {
		return err
	}
	inter, okI, err := m.H.FindInt("intermediate_size")
	if err != nil {
		return err
	}
	kv, okKV, err := m.H.FindInt("num_key_value_heads")
	if err != nil || !okI || !okKV {
		return err
	}
	if kv <= 0 {
		return fmt.Errorf("%w: num_key_value_heads is %d", model.ErrExport, kv)
	}
	return m.U32("expert_shared_feed_forward_length", inter/kv)
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

func buildErnie45MoE(c model.Config, ts model.Tensors) (*model.Tree, error) {
	return ernieMoETree(c, ts, false)
}

// buildErnie45MoEGGUF is the converter's tree: mlx-lm's with the MoE
// layers' moe_statics.e_score_correction_bias where the checkpoint has it.
func buildErnie45MoEGGUF(c model.Config, ts model.Tensors) (*model.Tree, error) {
	return ernieMoETree(c, ts, true)
}

func ernieMoETree(c model.Config, ts model.Tensors, statics bool) (*model.Tree, error) {
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
			if statics {
				ernieStatics(&b, ts, p+".mlp.moe_statics")
			}
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

// ernieStatics adds the MoE block's moe_statics (its router's
// e_score_correction_bias, [1, experts]) where the checkpoint has it.
func ernieStatics(b *model.Builder, ts model.Tensors, p string) {
	if shape, ok := ts.Shape(p + ".e_score_correction_bias"); ok {
		b.Params(p, model.Param{Name: "e_score_correction_bias", Shape: shape})
	}
}
