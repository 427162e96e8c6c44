package family

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// GraniteMoEHybrid is mlx-lm's granitemoehybrid (Granite 4.0 H): Mamba-2
// and attention layers by layer_types; with experts (num_local_experts) a
// shared MLP and routed experts split from input_linear, without them a
// dense MLP split from the shared MLP; 8-bit routers.
var GraniteMoEHybrid = &model.Family{
	Name:  "granitemoehybrid",
	Types: []string{"granitemoehybrid"},
	MLX: model.MLX{ConfigEdit: granitemoehybridTF4, Build: buildGraniteMoEHybrid, Pred: model.RouterPred("router.layer"), Rules: []model.SanitizeRule{
		model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, If: model.LastDimNot1, Op: model.ValueSwapLast2},
		model.IfConfig{Key: "num_local_experts", Rules: []model.SanitizeRule{
			model.Split{From: "block_sparse_moe.input_linear.weight", Axis: 1,
				Into: []string{"block_sparse_moe.switch_mlp.gate_proj.weight", "block_sparse_moe.switch_mlp.up_proj.weight"}},
			model.Rename{From: "block_sparse_moe.output_linear.weight", To: "block_sparse_moe.switch_mlp.down_proj.weight"},
		}},
		model.IfConfig{Key: "num_local_experts", Not: true, Rules: []model.SanitizeRule{
			model.Split{From: "shared_mlp.input_linear.weight", Axis: 0, Into: []string{"mlp.gate_proj.weight", "mlp.up_proj.weight"}},
			model.Rename{From: "shared_mlp.output_linear.weight", To: "mlp.down_proj.weight"},
		}},
		model.TiedHead{Default: true},
	}},
	GGUF: &model.GGUF{
		Types: []string{"granitemoehybrid"}, Arch: "granitehybrid", Vocab: "granitehybrid", SetVocab: model.DefaultVocab,
		PermuteQK: true, Params: graniteHybridGGUF, Tensors: model.Mamba2Tensors, VocabPad: model.PadVocab(8, false),
		Layer:       model.WithLayer(graniteHybridLayer()),
		Splits:      map[string][]string{"shared_mlp.input_linear": {"ffn_gate_shexp", "ffn_up_shexp"}},
		ExpertOrder: []string{"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"},
	},
}

// graniteHybridLayer is the llama-like map with the Mamba-2 mixer, the
// routed experts and the shared expert's output.
func graniteHybridLayer() map[string]string {
	m := model.Mamba2Layer("mamba.")
	for k, v := range map[string]string{
		"block_sparse_moe.router.layer": "ffn_gate_inp", "block_sparse_moe.switch_mlp.gate_proj": "ffn_gate_exps",
		"block_sparse_moe.switch_mlp.up_proj": "ffn_up_exps", "block_sparse_moe.switch_mlp.down_proj": "ffn_down_exps",
		"shared_mlp.output_linear": "ffn_down_shexp",
	} {
		m[k] = v
	}
	return m
}

// graniteHybridGGUF is GraniteHybridModel.set_gguf_parameters for
// layer_types; a model without mamba layers is refused (the converter
// writes it as granite or granitemoe).
func graniteHybridGGUF(m *model.Meta) error {
	types, err := hpStrings(m.H, "layer_types")
	if err != nil {
		return err
	}
	attn := make([]bool, len(types))
	hybrid := false
	for i, t := range types {
		attn[i] = t == "attention"
		hybrid = hybrid || !attn[i]
	}
	if !hybrid {
		return fmt.Errorf("%w: granitemoehybrid without mamba layers (the converter exports it as granite) is not supported", model.ErrExport)
	}
	dModel, err := m.H.ReqInt(mambaKeys("mamba_head_dim", "hidden_size", "d_model")...)
	if err != nil {
		return err
	}
	expand, err := m.H.ReqInt(mambaKeys("expand", "num_heads")...)
	if err != nil {
		return err
	}
	return graniteHybridParams(m, attn, expand*dModel)
}

// graniteHybrid is the shape of a granitemoehybrid model.
type graniteHybrid struct {
	hidden, inter, heads, kv, experts, shared int
	attnBias, mlpBias                         bool
	mamba                                     mamba2Mixer
}

func buildGraniteMoEHybrid(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
		"max_position_embeddings", "num_attention_heads", "num_key_value_heads", "attention_bias", "embedding_multiplier",
		"attention_multiplier", "logits_scaling", "residual_multiplier", "layer_types", "rms_norm_eps"); err != nil {
		return nil, err
	}
	var g graniteHybrid
	var vocab int
	if err := posInts(c, posInt{"vocab_size", &vocab}, posInt{"hidden_size", &g.hidden}, posInt{"intermediate_size", &g.inter},
		posInt{"num_attention_heads", &g.heads}, posInt{"num_key_value_heads", &g.kv}); err != nil {
		return nil, err
	}
	types, err := strList(c, "layer_types")
	if err != nil {
		return nil, err
	}
	if len(types) > model.MaxLayers {
		return nil, c.Errf("layer_types", "has %d layers, too many", len(types))
	}
	if err := g.read(c, types); err != nil {
		return nil, err
	}
	tie, err := c.BoolOr("tie_word_embeddings", true)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", vocab, g.hidden)
	for l, t := range types {
		g.layer(&b, "model.layers."+strconv.Itoa(l), t == mambaLayer)
	}
	b.Norm("model.norm", g.hidden)
	if !tie {
		b.Linear("lm_head", g.hidden, vocab, false)
	}
	return b.Tree(len(types)), nil
}

// read reads the flags, the MoE sizes and, when a layer is "mamba", the
// Mamba-2 sizes (optional fields mlx-lm needs then).
func (g *graniteHybrid) read(c model.Config, types []string) error {
	var err error
	if g.attnBias, err = c.BoolOr("attention_bias", false); err != nil {
		return err
	}
	if g.mlpBias, err = c.BoolOr("mlp_bias", false); err != nil {
		return err
	}
	if g.experts, err = c.IntOr("num_local_experts", 0); err != nil {
		return err
	}
	if g.experts > 0 {
		if g.shared, err = c.PosInt("shared_intermediate_size"); err != nil {
			return err
		}
	}
	hasMamba := false
	for _, t := range types {
		if t != mambaLayer && t != "attention" {
			return c.Errf("layer_types", "holds %q, not \"mamba\" or \"attention\"", t)
		}
		hasMamba = hasMamba || t == mambaLayer
	}
	if !hasMamba {
		return nil
	}
	m := &g.mamba
	var headDim int
	if err := posInts(c, posInt{"mamba_n_heads", &m.heads}, posInt{"mamba_d_head", &headDim}, posInt{"mamba_d_state", &m.state},
		posInt{"mamba_d_conv", &m.kernel}, posInt{"mamba_n_groups", &m.groups}); err != nil {
		return err
	}
	m.hidden, m.inner = g.hidden, m.heads*headDim
	if m.bias, err = c.BoolOr("mamba_proj_bias", false); err != nil {
		return err
	}
	m.convBias, err = c.BoolOr("mamba_conv_bias", false)
	return err
}

// layer adds one decoder layer at p, a Mamba-2 or an attention layer.
func (g *graniteHybrid) layer(b *model.Builder, p string, mamba bool) {
	b.Norm(p+".input_layernorm", g.hidden)
	if mamba {
		g.mamba.add(b, p+".mamba")
	} else {
		b.Attention(p+".self_attn", g.hidden, g.heads, g.kv, g.hidden/g.heads, g.attnBias, g.attnBias)
	}
	if g.experts > 0 {
		b.Linear(p+".shared_mlp.input_linear", g.hidden, 2*g.shared, false)
		b.Linear(p+".shared_mlp.output_linear", g.shared, g.hidden, false)
		b.SwitchGLU(p+".block_sparse_moe.switch_mlp", g.hidden, g.inter, g.experts)
		b.Linear(p+".block_sparse_moe.router.layer", g.hidden, g.experts, false)
	} else {
		b.MLP(p+".mlp", g.hidden, g.inter, g.mlpBias)
	}
	b.Norm(p+".post_attention_layernorm", g.hidden)
}

// granitemoehybridTF4 gives a transformers-5 config the transformers-4
// spellings mlx-lm's granitemoehybrid reads: layer_types "linear_attention"
// and "full_attention" are "mamba" and "attention" again (mlx-lm refuses
// the others), and the time_step_limit [0, Infinity] transformers 5 writes
// (absent from transformers-4 configs) is dropped, so mlx-lm uses its
// default as for the transformers-4 config of the same checkpoint
// (granitemoehybrid_t5.json).
func granitemoehybridTF4(c *pyjson.Object) {
	if v, ok := c.Get("layer_types"); ok {
		if l, ok := v.([]pyjson.Value); ok {
			for i, t := range l {
				switch t {
				case "linear_attention":
					l[i] = mambaLayer
				case "full_attention":
					l[i] = "attention"
				}
			}
		}
	}
	if v, ok := c.Get("time_step_limit"); ok {
		if l, ok := v.([]pyjson.Value); ok && len(l) == 2 && isInfinity(l[1]) {
			c.Delete("time_step_limit")
		}
	}
}

// isInfinity: +Infinity as Python's json writes it, or as transformers 5
// saves it ({"__float__": "Infinity"}).
func isInfinity(v pyjson.Value) bool {
	switch x := v.(type) {
	case pyjson.Number:
		return x == "Infinity"
	case *pyjson.Object:
		f, _ := x.Get("__float__")
		return f == "Infinity" && len(x.Keys()) == 1
	}
	return false
}

// graniteHybridParams is GraniteHybridModel.set_gguf_parameters, shared
// with nemotron_h: GraniteMoeModel's (GraniteModel pops head_dim), the
// Mamba-2 sizes, head_count_kv per layer (attn), no rope for a hybrid (a
// 2^20 context), and dInner, the converter's d_inner.
func graniteHybridParams(m *model.Meta, attn []bool, dInner int64) error {
	h := m.H
	m.H = h.Without("head_dim")
	err := graniteMoEParams(m)
	m.H = h
	if err != nil {
		return err
	}
	err = model.Steps(
		func() error { return m.ReqU32("ssm.conv_kernel", mambaKeys("conv_kernel", "d_conv")...) },
		func() error {
			return m.ReqU32("ssm.state_size", mambaKeys("state_size", "d_state", "state_dim", "ssm_state_size")...)
		},
		func() error { return m.ReqU32("ssm.group_count", mambaKeys("n_groups", "num_groups")...) },
		func() error { return m.U32("ssm.inner_size", dInner) },
		func() error { return m.ReqU32("ssm.time_step_rank", mambaKeys("n_heads", "num_heads")...) },
	)
	if err != nil {
		return err
	}
	if dim, ok, err := m.H.FindU32("attn_rotary_emb"); err != nil || ok {
		if err != nil {
			return err
		}
		if err := m.U32("rope.dimension_count", dim); err != nil {
			return err
		}
	}
	kv, err := m.H.ReqInt("num_key_value_heads", "n_head_kv")
	if err != nil {
		return err
	}
	if err := m.LayerArray("attention.head_count_kv", len(attn), kv, func(l int) bool { return attn[l] }); err != nil {
		return err
	}
	m.Set(m.ArchKey("rope.scaling.finetuned"), gguf.NewValue(false))
	return m.U32("context_length", 1<<20)
}

// mambaKeys is keys, then each with the "mamba_" prefix (find_hparam of
// the hybrids' hparam_prefixes).
func mambaKeys(keys ...string) []string {
	out := slices.Clone(keys)
	for _, k := range keys {
		out = append(out, mambaLayer+"_"+k)
	}
	return out
}
