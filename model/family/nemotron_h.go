package family

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// NemotronH is mlx-lm's nemotron_h: a block pattern (hybrid_override_pattern,
// or layers_block_type / layer_types) of Mamba-2 mixers (M), attention (*),
// relu² MLPs (-) and routed experts (E) under backbone; MTP layers dropped,
// A_log and the router's correction bias kept out of dtype casts.
var NemotronH = &model.Family{
	Name:  "nemotron_h",
	Types: []string{"nemotron_h"},
	MLX: model.MLX{Build: buildNemotronH,
		KeepDType: func(name string) bool { return scoreBias(name) || strings.Contains(name, "A_log") },
		Rules: []model.SanitizeRule{
			model.Drop{model.Prefix("mtp.")},
			model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, If: model.LastDimNot1, Op: model.ValueSwapLast2},
			model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
				Names: [][2]string{{"down_proj", "fc2"}, {"up_proj", "fc1"}}, Parts: []string{"weight"}, Optional: true},
				Layers: "backbone.layers.", Block: "mixer", Count: "n_routed_experts", From: model.LayersFromNames},
		}},
	GGUF: &model.GGUF{
		Types: []string{"nemotron_h"}, Arch: "nemotron_h_moe", ArchFor: nemotronHArch, Vocab: "nemotron_h", SetVocab: model.VocabLoader.BPE,
		PermuteQK: true, Params: nemotronHParams, Tensors: model.Mamba2Tensors, VocabPad: model.PadVocab(8, false),
		Blocks: "backbone.layers.", LayerList: "layers_block_type", Global: map[string]string{"backbone.embeddings": "token_embd", "backbone.norm_f": "output_norm"},
		Layer: nemotronHLayer(), ExpertOrder: []string{"ffn_down_exps", "ffn_up_exps"},
	},
}

// nemotronHLayer maps the block's norm and its one mixer: Mamba-2,
// attention, MLP, or routed experts with a shared expert and latent
// projections.
func nemotronHLayer() map[string]string {
	m := model.Mamba2Layer("mixer.")
	for k, v := range map[string]string{
		"norm": "attn_norm", "mixer.q_proj": "attn_q", "mixer.k_proj": "attn_k", "mixer.v_proj": "attn_v", "mixer.o_proj": "attn_output",
		"mixer.up_proj": "ffn_up", "mixer.down_proj": "ffn_down", "mixer.gate": "ffn_gate_inp",
		"mixer.gate.e_score_correction_bias": "exp_probs_b.bias",
		"mixer.switch_mlp.fc1":               "ffn_up_exps", "mixer.switch_mlp.fc2": "ffn_down_exps",
		"mixer.shared_experts.up_proj": "ffn_up_shexp", "mixer.shared_experts.down_proj": "ffn_down_shexp",
		"mixer.fc1_latent_proj": "ffn_latent_down", "mixer.fc2_latent_proj": "ffn_latent_up",
	} {
		m[k] = v
	}
	return m
}

// nemotronHArch is the GGUF architecture: nemotron_h_moe when the config
// has num_experts_per_tok (even null), else nemotron_h.
func nemotronHArch(h *model.HParams) string {
	if h.Has("num_experts_per_tok") {
		return "nemotron_h_moe"
	}
	return "nemotron_h"
}

// nemotronHParams is NemotronHModel.set_gguf_parameters: GraniteHybridModel's
// with d_inner mamba heads × mamba_head_dim, then the attention key/value
// length and feed_forward_length per layer: intermediate_size on the MLP
// ("-") layers, or for the MoE variant the expert size on the expert ("E")
// layers and the MoE sizes. An MTP head is refused.
func nemotronHParams(m *model.Meta) error {
	moeVariant := m.H.Has("num_experts_per_tok")
	if n, _, err := m.H.FindInt("num_nextn_predict_layers"); moeVariant && (err != nil || n > 0) {
		return fmt.Errorf("%w: nemotron_h with an MTP head (num_nextn_predict_layers) is not supported", model.ErrExport)
	}
	attn, mlp, err := nemotronHLayers(m.H, moeVariant)
	if err != nil {
		return err
	}
	headDim, err := m.H.ReqInt("head_dim", "attention_head_dim")
	if err != nil {
		return err
	}
	dModel, err := m.H.ReqInt(mambaKeys("mamba_head_dim", "hidden_size", "d_model")...)
	if err != nil {
		return err
	}
	heads, err := m.H.ReqInt(mambaKeys("num_heads")...)
	if err != nil {
		return err
	}
	if err := graniteHybridParams(m, attn, heads*dModel); err != nil {
		return err
	}
	if err := model.Steps(
		func() error { return m.U32("attention.key_length", headDim) },
		func() error { return m.U32("attention.value_length", headDim) },
	); err != nil {
		return err
	}
	if !moeVariant {
		ff, err := m.H.ReqInt("intermediate_size", "n_inner", "hidden_dim")
		if err != nil {
			return err
		}
		return m.LayerArray("feed_forward_length", len(mlp), ff, func(l int) bool { return mlp[l] })
	}
	return nemotronHMoEParams(m, mlp)
}

// nemotronHMoEParams writes the MoE variant's feed_forward_length (the
// expert size on the expert layers) and MoE sizes.
func nemotronHMoEParams(m *model.Meta, moe []bool) error {
	moeFF, err := m.H.ReqInt("moe_intermediate_size")
	if err != nil {
		return err
	}
	return model.Steps(
		func() error {
			return m.LayerArray("feed_forward_length", len(moe), moeFF, func(l int) bool { return moe[l] })
		},
		func() error { return m.ReqU32("expert_used_count", "num_experts_per_tok") },
		func() error { return m.U32("expert_feed_forward_length", moeFF) },
		func() error {
			return m.ReqU32("expert_shared_feed_forward_length", "moe_shared_expert_intermediate_size")
		},
		func() error { return m.ReqU32("expert_count", "n_routed_experts") },
		func() error { return m.ReqU32("expert_shared_count", "n_shared_experts") },
		func() error { return nemotronBool(m, "expert_weights_norm", "norm_topk_prob") },
		func() error { return m.ReqF32("expert_weights_scale", "routed_scaling_factor") },
		func() error { return m.ReqU32("expert_group_count", "n_group") },
		func() error { return m.OptU32("moe_latent_size", "moe_latent_size") },
	)
}

// nemotronBool writes a required boolean.
func nemotronBool(m *model.Meta, suffix, key string) error {
	b, ok, err := m.H.FindBool(key)
	if err != nil || !ok {
		return hpMissing(err, key)
	}
	m.Set(m.ArchKey(suffix), gguf.NewValue(b))
	return nil
}

// nemotronHLayers are the attention and feed-forward layers of the
// converter's pattern: hybrid_override_pattern ("*"; "E" for the MoE
// variant, else "-") or layers_block_type (whose feed-forward layers are
// "moe" ones only, as the converter reads it).
func nemotronHLayers(h *model.HParams, moeVariant bool) (attn, mlp []bool, err error) {
	ffChar := '-'
	if moeVariant {
		ffChar = 'E'
	}
	if v, ok := h.Get("hybrid_override_pattern"); ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, nil, fmt.Errorf("%w: config.json hybrid_override_pattern is not a string", model.ErrExport)
		}
		for _, r := range s {
			attn = append(attn, r == '*')
			mlp = append(mlp, r == ffChar)
		}
		return attn, mlp, nil
	}
	kinds, err := hpStrings(h, "layers_block_type")
	if err != nil {
		return nil, nil, err
	}
	for _, k := range kinds {
		attn = append(attn, k == "attention" || k == "full_attention")
		mlp = append(mlp, k == "moe")
	}
	return attn, mlp, nil
}

// nemotronBlockChar maps layers_block_type names to pattern characters
// (ModelArgs._block_type_to_char).
var nemotronBlockChar = map[string]string{
	"full_attention": "*", "linear_attention": "M", "moe": "E", "mlp": "-",
	"attention": "*", mambaLayer: "M", "conv": "M",
}

// nemotronPattern is the block pattern, one character per layer:
// hybrid_override_pattern (a string or a list), else layers_block_type or
// layer_types mapped to characters.
func nemotronPattern(c model.Config) ([]string, error) {
	if raw, ok := c.Value("hybrid_override_pattern"); ok {
		if s, isStr := raw.(string); isStr {
			out := make([]string, 0, len(s))
			for _, r := range s {
				out = append(out, string(r))
			}
			return out, nil
		}
		return strList(c, "hybrid_override_pattern")
	}
	key := "layers_block_type"
	if !c.Has(key) {
		key = "layer_types"
	}
	if !c.Has(key) {
		return nil, c.Errf("layers_block_type", "is missing, and so are layer_types and hybrid_override_pattern")
	}
	types, err := strList(c, key)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(types))
	for i, t := range types {
		ch, ok := nemotronBlockChar[t]
		if !ok {
			return nil, c.Errf(key, "holds %q, not a supported block type", t)
		}
		out[i] = ch
	}
	return out, nil
}

// nemotronH is the shape of a NemotronH model.
type nemotronH struct {
	hidden, inter, heads, kv, headDim                  int
	attnBias, mlpBias                                  bool
	mamba                                              mamba2Mixer
	experts, moeInter, sharedInter, latent, sharedMult int
}

func buildNemotronH(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "vocab_size", "hidden_size", "intermediate_size", "max_position_embeddings",
		"num_attention_heads", "num_key_value_heads", "attention_bias", "mamba_num_heads", "mamba_head_dim",
		"mamba_proj_bias", "ssm_state_size", "conv_kernel", "n_groups", "mlp_bias", "layer_norm_epsilon", "use_bias",
		"use_conv_bias"); err != nil {
		return nil, err
	}
	pattern, err := nemotronPattern(c)
	if err != nil {
		return nil, err
	}
	if len(pattern) > model.MaxLayers {
		return nil, c.Errf("hybrid_override_pattern", "has %d layers, too many", len(pattern))
	}
	var vocab int
	n := nemotronH{}
	if err := posInts(c, posInt{"vocab_size", &vocab}, posInt{"hidden_size", &n.hidden}, posInt{"num_attention_heads", &n.heads},
		posInt{"num_key_value_heads", &n.kv}); err != nil {
		return nil, err
	}
	if err := n.read(c); err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("backbone.embeddings", vocab, n.hidden)
	for l, ch := range pattern {
		p := "backbone.layers." + strconv.Itoa(l)
		b.Norm(p+".norm", n.hidden)
		n.block(&b, p+".mixer", ch)
	}
	b.Norm("backbone.norm_f", n.hidden)
	b.Linear("lm_head", n.hidden, vocab, false)
	return b.Tree(len(pattern)), nil
}

// read reads the block sizes and flags.
func (n *nemotronH) read(c model.Config) error {
	m := &n.mamba
	var mambaHeads, mambaHeadDim int
	if err := posInts(c, posInt{"mamba_num_heads", &mambaHeads}, posInt{"mamba_head_dim", &mambaHeadDim},
		posInt{"ssm_state_size", &m.state}, posInt{"conv_kernel", &m.kernel}, posInt{"n_groups", &m.groups}); err != nil {
		return err
	}
	m.hidden, m.heads, m.inner = n.hidden, mambaHeads, mambaHeads*mambaHeadDim
	flags := []struct {
		key string
		dst *bool
	}{{"attention_bias", &n.attnBias}, {"mlp_bias", &n.mlpBias}, {"mamba_proj_bias", &m.bias}, {"use_conv_bias", &m.convBias}}
	for _, f := range flags {
		v, err := c.BoolOr(f.key, false)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	ints := []model.IntDefault{{Key: "intermediate_size", Dst: &n.inter}, {Key: "head_dim", Dst: &n.headDim, Def: n.hidden / n.heads},
		{Key: "n_routed_experts", Dst: &n.experts}, {Key: "moe_intermediate_size", Dst: &n.moeInter},
		{Key: "moe_shared_expert_intermediate_size", Dst: &n.sharedInter}, {Key: "moe_latent_size", Dst: &n.latent}}
	if err := model.IntsOr(c, ints...); err != nil {
		return err
	}
	if c.Has("n_shared_experts") {
		n.sharedMult = 1
	}
	return nil
}

// block adds the mixer of one block kind at p; an unknown character adds
// none (NemotronHBlock's if/elif chain).
func (n *nemotronH) block(b *model.Builder, p, ch string) {
	switch ch {
	case "M":
		n.mamba.add(b, p)
	case "*":
		b.Attention(p, n.hidden, n.heads, n.kv, n.headDim, n.attnBias, n.attnBias)
	case "-":
		n.mlp(b, p, n.inter)
	case "E":
		in := n.hidden
		if n.latent > 0 {
			in = n.latent
		}
		b.SwitchLinear(p+".switch_mlp.fc1", in, n.moeInter, n.experts, false)
		b.SwitchLinear(p+".switch_mlp.fc2", n.moeInter, in, n.experts, false)
		b.Params(p+".gate", model.Param{Name: "weight", Shape: []int{n.experts, n.hidden}},
			model.Param{Name: "e_score_correction_bias", Shape: []int{n.experts}})
		if n.sharedMult > 0 {
			n.mlp(b, p+".shared_experts", n.sharedInter)
		}
		if n.latent > 0 {
			b.Linear(p+".fc1_latent_proj", n.hidden, n.latent, n.mlpBias)
			b.Linear(p+".fc2_latent_proj", n.latent, n.hidden, n.mlpBias)
		}
	}
}

// mlp adds NemotronHMLP (up_proj, down_proj); a zero size is
// intermediate_size (its `intermediate_size or args.intermediate_size`).
func (n *nemotronH) mlp(b *model.Builder, p string, inter int) {
	if inter == 0 {
		inter = n.inter
	}
	b.Linear(p+".up_proj", n.hidden, inter, n.mlpBias)
	b.Linear(p+".down_proj", inter, n.hidden, n.mlpBias)
}
