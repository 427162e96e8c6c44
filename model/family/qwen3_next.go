package family

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Qwen3Next is mlx-lm's qwen3_next: gated delta-net (linear attention)
// layers with full attention every full_attention_interval-th layer,
// sparse MoE blocks with a gated shared expert, 8-bit routers. Its
// sanitize does nothing unless a layer has per-expert weights; then it
// drops the MTP weights, stacks the experts, moves the conv1d kernel axis
// last and adds 1 to the (1 + w) RMSNorm weights.
var Qwen3Next = &model.Family{
	Name:  "qwen3_next",
	Types: []string{"qwen3_next"},
	MLX:   model.MLX{LegacyRope: true, Build: buildQwen3Next, Rules: qwen3NextRules, Pred: qwen3NextPred},
	// Qwen3NextModel (convert_hf_to_gguf.py with --no-mtp: mlx-lm drops
	// the MTP layer, and so does the export).
	GGUF: &model.GGUF{
		Types: []string{"qwen3_next"}, Arch: "qwen3next", Vocab: "qwen3next", SetVocab: model.VocabLoader.BPE,
		Layer:       qwenNextLayer(qwenMoELayer, map[string]string{"linear_attn.in_proj_qkvz": "attn_qkv", "linear_attn.in_proj_ba": "ssm_ba"}),
		ExpertOrder: qwenMoEOrder, Params: qwen3NextParams,
		Tensors: map[string]model.TensorRule{"ssm_a": {NegExp: true}, "ssm_conv1d.weight": {Squeeze: true},
			"attn_qkv.weight": {Rows: qwen3NextQKVZ}},
		Configs: map[string]*model.HFConfig{"qwen3_next": {Defaults: map[string]any{"vocab_size": 151936, "hidden_size": 2048,
			"intermediate_size": 5632, "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 2,
			"max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "tie_word_embeddings": false, "rope_theta": 10000.0,
			"rope_scaling": nil, "partial_rotary_factor": 0.25, "attention_bias": false, "head_dim": 256,
			"linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
			"linear_num_value_heads": 32, "decoder_sparse_step": 1, "moe_intermediate_size": 512,
			"shared_expert_intermediate_size": 512, "num_experts_per_tok": 10, "num_experts": 512, "norm_topk_prob": true,
			"mlp_only_layers": []any{}}}},
	},
}

// qwenNextLayer is the tensor-name map of the Qwen3-Next layouts (gated
// delta-net and gated attention layers; mlp: the MLP or MoE names) with
// extra's entries added.
func qwenNextLayer(mlp, extra map[string]string) map[string]string {
	m := model.WithLayer(mlp)
	for k, v := range map[string]string{
		"post_attention_layernorm": "post_attention_norm",
		"linear_attn.conv1d":       "ssm_conv1d",
		"linear_attn.norm":         "ssm_norm",
		"linear_attn.out_proj":     "ssm_out",
		"linear_attn.A_log":        "ssm_a",
		"linear_attn.dt_bias":      "ssm_dt.bias",
	} {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// qwen3NextQKVZ splits in_proj_qkvz, stored per key head as [q, k, v, z],
// into attn_qkv (every head's q, then k, then v) and attn_gate (z).
func qwen3NextQKVZ(h *model.HParams, n int) ([]model.RowPart, error) {
	var dk, dv, nk, nv int64
	for _, f := range []struct {
		dst *int64
		key string
	}{{&dk, "linear_key_head_dim"}, {&dv, "linear_value_head_dim"}, {&nk, "linear_num_key_heads"}, {&nv, "linear_num_value_heads"}} {
		v, err := h.ReqInt(f.key)
		if err != nil {
			return nil, err
		}
		*f.dst = v
	}
	if nk <= 0 || nv%nk != 0 || int64(n) != 2*nk*dk+2*nv*dv {
		return nil, fmt.Errorf("%w: in_proj_qkvz has %d rows, not 2 * %d key heads * %d + 2 * %d value heads * %d", model.ErrExport, n, nk, dk, nv, dv)
	}
	vg := nv / nk * dv
	group := 2*dk + 2*vg
	var q, k, v, z []int
	for g := int64(0); g < nk; g++ {
		b := int(g * group)
		q = append(q, model.Span(b, int(dk))...)
		k = append(k, model.Span(b+int(dk), int(dk))...)
		v = append(v, model.Span(b+int(2*dk), int(vg))...)
		z = append(z, model.Span(b+int(2*dk+vg), int(vg))...)
	}
	return []model.RowPart{{Name: "attn_qkv", Rows: slices.Concat(q, k, v)}, {Name: "attn_gate", Rows: z}}, nil
}

// qwen3NextParams is Qwen3NextModel.set_gguf_parameters (without MTP)
// over Qwen3NextConfig.
func qwen3NextParams(m *model.Meta) error { return qwenNextSSMParams(m, true) }

// qwenNextSSMParams is Qwen3NextModel.set_gguf_parameters; derive: the
// config class fills in layer_types.
func qwenNextSSMParams(m *model.Meta, derive bool) error {
	if err := qwenMoEParams(m); err != nil {
		return err
	}
	for _, kv := range []struct{ suffix, key string }{{"ssm.conv_kernel", "linear_conv_kernel_dim"}, {"ssm.state_size", "linear_key_head_dim"},
		{"ssm.group_count", "linear_num_key_heads"}, {"ssm.time_step_rank", "linear_num_value_heads"}} {
		if err := m.ReqU32(kv.suffix, kv.key); err != nil {
			return err
		}
	}
	dv, err := m.H.ReqInt("linear_value_head_dim")
	if err != nil {
		return err
	}
	nv, err := m.H.ReqInt("linear_num_value_heads")
	if err != nil {
		return err
	}
	if err := m.U32("ssm.inner_size", dv*nv); err != nil {
		return err
	}
	return qwenNextLayerKVs(m, derive)
}

// qwenNextLayerKVs writes attention.recurrent_layers (from layer_types;
// with derive, from full_attention_interval when absent, as
// Qwen3NextConfig fills it in), full_attention_interval and
// rope.dimension_count.
func qwenNextLayerKVs(m *model.Meta, derive bool) error {
	interval, ok, err := m.H.FindInt("full_attention_interval")
	if err != nil {
		return err
	}
	if !ok {
		interval = 4
	}
	rec, err := qwenNextRecurrent(m.H, interval, derive)
	if err != nil {
		return err
	}
	if rec != nil {
		m.Set(m.ArchKey("attention.recurrent_layers"), gguf.NewValue(rec))
	}
	if err := m.U32("full_attention_interval", interval); err != nil {
		return err
	}
	dim, err := model.RopeDim(m.H)
	if err != nil {
		return err
	}
	f, err := m.Rope.FloatOr("partial_rotary_factor", 0.25)
	if err != nil {
		return err
	}
	return m.U32("rope.dimension_count", int64(float64(dim)*f))
}

var qwen3NextRules = []model.SanitizeRule{model.When{
	All: []model.Match{model.Prefix("model.layers."), model.Suffix(".mlp.experts.0.up_proj.weight")},
	Rules: []model.SanitizeRule{
		model.Drop{model.Contains("mtp.")},
		model.TiedHead{},
		model.StackExperts{Stack: qwenMoEExperts([]string{"weight"}, false), Layers: "model.layers.", Block: "mlp", Count: "num_experts",
			From: model.LayersFromNames},
		model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, If: model.LastDimNot1, Op: model.ValueSwapLast2},
		model.Transform{Match: []model.Match{model.Suffix(".input_layernorm.weight"), model.Suffix(".post_attention_layernorm.weight"),
			model.Suffix("model.norm.weight"), model.Suffix(".q_norm.weight"), model.Suffix(".k_norm.weight")}, If: model.Rank1, Op: model.ValueAddOne},
	},
}}

// qwen3NextPred: 8-bit routers and shared-expert gates.
func qwen3NextPred(path string) *pyjson.Object {
	if strings.HasSuffix(path, "mlp.gate") || strings.HasSuffix(path, "shared_expert_gate") {
		return model.RouterPred("")(path)
	}
	return nil
}

// qwen3NextDims are the ModelArgs sizes beyond model.Dims.
type qwen3NextDims struct {
	kv, headDim, nv, nk, dk, dv, kernel, experts, step, sharedInter, moeInter, interval int
	mlpOnly                                                                             []int
	tie, bias                                                                           bool
}

func readQwen3Next(c model.Config) (x qwen3NextDims, err error) {
	steps := []func() error{
		func() (err error) { x.kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { x.headDim, err = c.PosInt("head_dim"); return },
		func() (err error) { x.nv, err = c.PosInt("linear_num_value_heads"); return },
		func() (err error) { x.nk, err = c.PosInt("linear_num_key_heads"); return },
		func() (err error) { x.dk, err = c.PosInt("linear_key_head_dim"); return },
		func() (err error) { x.dv, err = c.PosInt("linear_value_head_dim"); return },
		func() (err error) { x.kernel, err = c.PosInt("linear_conv_kernel_dim"); return },
		func() (err error) { x.experts, err = c.ReqInt("num_experts"); return },
		func() (err error) { x.step, err = c.ReqInt("decoder_sparse_step"); return },
		func() (err error) { x.sharedInter, err = c.ReqInt("shared_expert_intermediate_size"); return },
		func() (err error) { x.moeInter, err = c.ReqInt("moe_intermediate_size"); return },
		func() (err error) { x.mlpOnly, err = c.IntList("mlp_only_layers"); return },
		func() (err error) { x.interval, err = c.IntOr("full_attention_interval", 4); return },
		func() (err error) { x.tie, err = c.BoolOr("tie_word_embeddings", false); return },
		func() (err error) { x.bias, err = c.BoolOr("attention_bias", false); return },
	}
	for _, f := range steps {
		if err = f(); err != nil {
			return x, err
		}
	}
	switch {
	case x.nv%x.nk != 0:
		err = c.Errf("linear_num_value_heads", "%d is not divisible by linear_num_key_heads %d", x.nv, x.nk)
	case x.interval == 0:
		err = c.Errf("full_attention_interval", "is 0")
	case x.experts > 0 && x.step == 0:
		err = c.Errf("decoder_sparse_step", "is 0")
	}
	return x, err
}

func buildQwen3Next(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
		"linear_num_value_heads", "linear_num_key_heads", "linear_key_head_dim", "linear_value_head_dim",
		"linear_conv_kernel_dim", "num_experts", "num_experts_per_tok", "decoder_sparse_step",
		"shared_expert_intermediate_size", "mlp_only_layers", "moe_intermediate_size", "rms_norm_eps", "vocab_size",
		"num_key_value_heads", "rope_theta", "partial_rotary_factor", "max_position_embeddings", "head_dim"); err != nil {
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
	x, err := readQwen3Next(c)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		if (l+1)%x.interval != 0 {
			x.gatedDeltaNet(&b, p+".linear_attn", d.Hidden)
		} else {
			x.attention(&b, p+".self_attn", d)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
		if !slices.Contains(x.mlpOnly, l) && x.experts > 0 && (l+1)%x.step == 0 {
			x.sparseMoe(&b, p+".mlp", d.Hidden)
		} else {
			b.MLP(p+".mlp", d.Hidden, d.Inter, false)
		}
	}
	b.Norm("model.norm", d.Hidden)
	if !x.tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}

// gatedDeltaNet adds Qwen3NextGatedDeltaNet's parameters in attribute
// order (dt_bias and A_log belong to the non-leaf module itself).
func (x qwen3NextDims) gatedDeltaNet(b *model.Builder, p string, hidden int) {
	keyDim, valueDim := x.dk*x.nk, x.dv*x.nv
	conv := keyDim*2 + valueDim
	b.Params(p+".conv1d", model.Param{Name: "weight", Shape: []int{conv, x.kernel, 1}})
	b.Linear(p+".in_proj_qkvz", hidden, keyDim*2+valueDim*2, false)
	b.Linear(p+".in_proj_ba", hidden, x.nv*2, false)
	b.BlockParams(p, model.Param{Name: "dt_bias", Shape: []int{x.nv}}, model.Param{Name: "A_log", Shape: []int{x.nv}})
	b.Norm(p+".norm", x.dv)
	b.Linear(p+".out_proj", valueDim, hidden, false)
}

// attention adds Qwen3NextAttention: q_proj holds the queries and the
// output gate.
func (x qwen3NextDims) attention(b *model.Builder, p string, d model.Dims) {
	b.Linear(p+".q_proj", d.Hidden, d.Heads*x.headDim*2, x.bias)
	b.Linear(p+".k_proj", d.Hidden, x.kv*x.headDim, x.bias)
	b.Linear(p+".v_proj", d.Hidden, x.kv*x.headDim, x.bias)
	b.Linear(p+".o_proj", d.Heads*x.headDim, d.Hidden, x.bias)
	b.Norm(p+".q_norm", x.headDim)
	b.Norm(p+".k_norm", x.headDim)
}

// sparseMoe adds Qwen3NextSparseMoeBlock.
func (x qwen3NextDims) sparseMoe(b *model.Builder, p string, hidden int) {
	b.Linear(p+".gate", hidden, x.experts, false)
	b.SwitchGLU(p+".switch_mlp", hidden, x.moeInter, x.experts)
	b.MLP(p+".shared_expert", hidden, x.sharedInter, false)
	b.Linear(p+".shared_expert_gate", hidden, 1, false)
}

// qwenNextRecurrent is layer_types as "is linear_attention" flags; with
// derive and no layer_types, every layer but each interval-th; nil
// without.
func qwenNextRecurrent(h *model.HParams, interval int64, derive bool) ([]bool, error) {
	n, err := h.ReqInt("num_hidden_layers")
	if err != nil {
		return nil, err
	}
	v, ok := h.Get("layer_types")
	if !ok || v == nil {
		if !derive || interval <= 0 || n < 0 || n > model.MaxLayers {
			return nil, nil
		}
		out := make([]bool, n)
		for i := range out {
			out[i] = (int64(i)+1)%interval != 0
		}
		return out, nil
	}
	list, isList := v.([]pyjson.Value)
	if !isList || int64(len(list)) != n {
		return nil, model.ConfigError(h.Field("layer_types"), fmt.Sprintf("a list of %d layer types", n), v)
	}
	out := make([]bool, len(list))
	for i, t := range list {
		s, isStr := t.(string)
		if !isStr {
			return nil, model.ConfigError(fmt.Sprintf("%s[%d]", h.Field("layer_types"), i), "a string", t)
		}
		out[i] = s == "linear_attention"
	}
	return out, nil
}
