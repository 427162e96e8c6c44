package family

import (
	"slices"
	"strconv"
	"strings"

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
