package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// FalconH1 is mlx-lm's falcon_h1: every layer runs a Mamba-2 mixer and
// attention side by side, then an MLP. Its sanitize (for a checkpoint
// whose layer-0 conv1d is not yet in MLX's layout) folds the µP
// multipliers into the weights and transposes the conv1d weights.
var FalconH1 = &model.Family{
	Name:  "falcon_h1",
	Types: []string{"falcon_h1"},
	MLX: model.MLX{Build: buildFalconH1, Rules: []model.SanitizeRule{
		model.IfShape{Name: "model.layers.0.mamba.conv1d.weight", If: model.LastDimOverDim1, Rules: []model.SanitizeRule{
			falconScale("embed_tokens.weight", falconF("embedding_multiplier", 5.656854249492381)),
			falconScale("lm_head.weight", falconF("lm_head_multiplier", 0.0390625)),
			falconScale("q_proj.weight", falconF("attention_in_multiplier", 1)),
			falconScale("k_proj.weight", falconF("attention_in_multiplier", 1)),
			falconScale("key_proj.weight", falconF("attention_in_multiplier", 1), falconF("key_multiplier", 0.390625)),
			falconScale("o_proj.weight", falconF("attention_out_multiplier", 0.9375)),
			falconScale("out_proj.weight", falconF("ssm_out_multiplier", 0.23570226039551587)),
			falconScale("gate_proj.weight", model.ConfigFloat{Key: "mlp_multipliers", List: true, Elem: 0, Default: falconMLPMultipliers[0]}),
			falconScale("down_proj.weight", model.ConfigFloat{Key: "mlp_multipliers", List: true, Elem: 1, Default: falconMLPMultipliers[1]}),
			model.Scale{Match: []model.Match{model.Suffix("in_proj.weight")}, By: []model.ConfigFloat{falconF("ssm_in_multiplier", 1.25)},
				Rows: falconMup},
			model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, Op: model.ValueSwapLast2},
		}},
	}},
	GGUF: &model.GGUF{
		Types: []string{"falcon_h1"}, Arch: "falcon-h1", Vocab: "falcon-h1", SetVocab: model.VocabLoader.BPE,
		Params: falconH1Params, Tensors: model.Mamba2Tensors, MLX: &model.MLX{Build: buildFalconH1, Rules: falconGGUFRules},
		Global: map[string]string{"model.final_layernorm": "output_norm"},
		Layer:  model.WithLayer(falconH1Layer()),
	},
}

// falconGGUFRules (the export's sanitize, GGUF.MLX) are
// FalconH1Model.modify_tensors' multipliers, for a
// checkpoint not yet in MLX's layout (mlx-lm's output has them folded in):
// float32 arithmetic on the widened tensor, one factor after the other,
// and unlike mlx-lm's sanitize v_proj scaled and key_multiplier on k_proj.
var falconGGUFRules = []model.SanitizeRule{
	model.IfShape{Name: "model.layers.0.mamba.conv1d.weight", If: model.LastDimOverDim1, Rules: []model.SanitizeRule{
		falconWide("embed_tokens.weight", falconF("embedding_multiplier", 5.656854249492381)),
		falconWide("lm_head.weight", falconF("lm_head_multiplier", 0.0390625)),
		falconWide("q_proj.weight", falconF("attention_in_multiplier", 1)),
		falconWide("k_proj.weight", falconF("key_multiplier", 0.390625), falconF("attention_in_multiplier", 1)),
		falconWide("v_proj.weight", falconF("attention_in_multiplier", 1)),
		falconWide("o_proj.weight", falconF("attention_out_multiplier", 0.9375)),
		falconWide("out_proj.weight", falconF("ssm_out_multiplier", 0.23570226039551587)),
		falconWide("gate_proj.weight", model.ConfigFloat{Key: "mlp_multipliers", List: true, Elem: 0, Default: falconMLPMultipliers[0]}),
		falconWide("down_proj.weight", model.ConfigFloat{Key: "mlp_multipliers", List: true, Elem: 1, Default: falconMLPMultipliers[1]}),
		model.Scale{Match: []model.Match{model.Suffix("in_proj.weight")}, By: []model.ConfigFloat{falconF("ssm_in_multiplier", 1.25)},
			Rows: falconMup, Widen: true},
		model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, Op: model.ValueSwapLast2},
	}},
}

func falconWide(suffix string, by ...model.ConfigFloat) model.Scale {
	return model.Scale{Match: []model.Match{model.Suffix(suffix)}, By: by, Widen: true}
}

// falconH1Layer is the llama-like map with the MLP under feed_forward, the
// Mamba-2 mixer, and the pre-MLP norm, which the converter names
// blk.N.ffn_norm without ".weight".
func falconH1Layer() map[string]string {
	m := model.Mamba2Layer("mamba.")
	for k, v := range map[string]string{
		"feed_forward.gate_proj": "ffn_gate", "feed_forward.up_proj": "ffn_up", "feed_forward.down_proj": "ffn_down",
		"pre_ff_layernorm.weight": "ffn_norm",
	} {
		m[k] = v
	}
	return m
}

// falconH1Params is FalconH1Model.set_gguf_parameters: Mamba2Model's (its
// hparams also under the "mamba_" prefix, d_inner mamba_d_ssm), then the
// vocabulary, context, MLP and attention sizes and rope_theta.
func falconH1Params(m *model.Meta) error {
	dInner, err := m.H.ReqInt(mambaKeys("mamba_d_ssm")...)
	if err != nil {
		return err
	}
	headDim, ok, err := m.H.FindInt(mambaKeys("mamba_d_head", "head_dim")...)
	if err != nil {
		return err
	}
	if !ok || headDim == 0 {
		headDim = 64
	}
	err = model.Steps(
		func() error { return falconOr(m, "ssm.conv_kernel", 4, mambaKeys("conv_kernel", "d_conv")...) },
		func() error { return m.U32("ssm.inner_size", dInner) },
		func() error { return falconOr(m, "ssm.state_size", 128, mambaKeys("state_size", "d_state")...) },
		func() error { return m.U32("ssm.time_step_rank", dInner/headDim) },
		func() error { return falconOr(m, "ssm.group_count", 1, mambaKeys("n_groups")...) },
		func() error {
			return m.ReqF32("attention.layer_norm_rms_epsilon", mambaKeys("layer_norm_epsilon", "rms_norm_eps")...)
		},
		func() error { return m.ReqU32("vocab_size", "vocab_size") },
		func() error { return m.U32("block_count", m.BlockCount) },
		func() error { return falconOr(m, "context_length", 0, "max_position_embeddings") },
		func() error { return m.ReqU32("embedding_length", mambaKeys("hidden_size", "d_model", "dim")...) },
		func() error { return m.ReqU32("feed_forward_length", "intermediate_size") },
		func() error { return m.ReqU32("attention.head_count", "num_attention_heads") },
		func() error { return m.ReqU32("attention.head_count_kv", "num_key_value_heads") },
		func() error { return m.ReqU32("attention.key_length", "head_dim") },
		func() error { return m.ReqU32("attention.value_length", "head_dim") },
	)
	if err != nil {
		return err
	}
	m.Set("general.file_type", gguf.NewValue(uint32(m.FileType)))
	theta, ok, err := m.Rope.Float("rope_theta")
	if err != nil || !ok {
		return hpMissing(err, "rope_theta")
	}
	m.F32("rope.freq_base", theta)
	return nil
}

// falconOr writes the first present key of keys (find_hparam's "or def":
// absent, null or 0 is def).
func falconOr(m *model.Meta, suffix string, def int64, keys ...string) error {
	n, ok, err := m.H.FindInt(keys...)
	if err != nil {
		return err
	}
	if !ok || n == 0 {
		n = def
	}
	return m.U32(suffix, n)
}

var (
	falconMLPMultipliers = []float64{0.8838834764831844, 0.5859375}
	falconSSMMultipliers = []float64{0.3535533905932738, 0.25, 0.3535533905932738, 0.5, 0.3535533905932738}
)

func falconF(key string, def float64) model.ConfigFloat {
	return model.ConfigFloat{Key: key, Default: def}
}

func falconScale(suffix string, by ...model.ConfigFloat) model.Scale {
	return model.Scale{Match: []model.Match{model.Suffix(suffix)}, By: by}
}

// falconH1 is the shape of a FalconH1 model (ModelArgs' defaults).
type falconH1 struct {
	vocab, hidden, inter, heads, kv, headDim, layers   int
	dSSM, dState, groups, mambaHeads, kernel           int
	attnBias, mlpBias, convBias, projBias, outBias, rn bool
}

// read reads the config with ModelArgs' defaults.
func (f *falconH1) read(c model.Config) error {
	ints := []model.IntDefault{{Key: "vocab_size", Dst: &f.vocab, Def: 32784}, {Key: "hidden_size", Dst: &f.hidden, Def: 1024},
		{Key: "intermediate_size", Dst: &f.inter, Def: 2048}, {Key: "num_attention_heads", Dst: &f.heads, Def: 8},
		{Key: "num_key_value_heads", Dst: &f.kv, Def: 2}, {Key: "head_dim", Dst: &f.headDim, Def: 64},
		{Key: "num_hidden_layers", Dst: &f.layers, Def: 36}, {Key: "mamba_d_ssm", Dst: &f.dSSM, Def: 1536},
		{Key: "mamba_d_state", Dst: &f.dState, Def: 128}, {Key: "mamba_n_groups", Dst: &f.groups, Def: 1},
		{Key: "mamba_n_heads", Dst: &f.mambaHeads, Def: 24}, {Key: "mamba_d_conv", Dst: &f.kernel, Def: 4}}
	if err := model.IntsOr(c, ints...); err != nil {
		return err
	}
	if f.layers > model.MaxLayers {
		return c.Errf("num_hidden_layers", "is %d, too many", f.layers)
	}
	flags := []struct {
		key string
		def bool
		dst *bool
	}{{"attention_bias", false, &f.attnBias}, {"mlp_bias", false, &f.mlpBias}, {"mamba_conv_bias", true, &f.convBias},
		{"mamba_proj_bias", false, &f.projBias}, {"projectors_bias", false, &f.outBias}, {"mamba_rms_norm", false, &f.rn}}
	for _, fl := range flags {
		v, err := c.BoolOr(fl.key, fl.def)
		if err != nil {
			return err
		}
		*fl.dst = v
	}
	return nil
}

func buildFalconH1(c model.Config, _ model.Tensors) (*model.Tree, error) {
	var f falconH1
	if err := f.read(c); err != nil {
		return nil, err
	}
	tie, err := c.BoolOr("tie_word_embeddings", true)
	if err != nil {
		return nil, err
	}
	convDim := f.dSSM + 2*f.groups*f.dState
	h := []int{f.mambaHeads}
	var b model.Builder
	b.Embedding("model.embed_tokens", f.vocab, f.hidden)
	for l := 0; l < f.layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Linear(p+".feed_forward.gate_proj", f.hidden, f.inter, f.mlpBias)
		b.Linear(p+".feed_forward.up_proj", f.hidden, f.inter, f.mlpBias)
		b.Linear(p+".feed_forward.down_proj", f.inter, f.hidden, f.mlpBias)
		m := p + ".mamba"
		b.DepthwiseConv1d(m+".conv1d", convDim, f.kernel, f.convBias)
		b.Linear(m+".in_proj", f.hidden, f.dSSM+convDim+f.mambaHeads, f.projBias)
		b.BlockParams(m, model.Param{Name: "dt_bias", Shape: h}, model.Param{Name: "A_log", Shape: h})
		if f.rn {
			b.Norm(m+".norm", f.dSSM)
		}
		b.BlockParams(m, model.Param{Name: "D", Shape: h})
		b.Linear(m+".out_proj", f.dSSM, f.hidden, f.outBias)
		b.Attention(p+".self_attn", f.hidden, f.heads, f.kv, f.headDim, f.attnBias, f.attnBias)
		b.Norm(p+".input_layernorm", f.hidden)
		b.Norm(p+".pre_ff_layernorm", f.hidden)
	}
	b.Norm("model.final_layernorm", f.hidden)
	if !tie {
		b.Linear("lm_head", f.hidden, f.vocab, false)
	}
	return b.Tree(f.layers), nil
}

// falconMup is compute_mup_vector: ssm_multipliers[i] repeated over the
// in_proj rows of z, x, B, C and dt (d_ssm, d_ssm, groups·d_state twice,
// heads), as far as both lists go (Python's zip).
func falconMup(c model.Config) ([]float64, error) {
	var f falconH1
	if err := f.read(c); err != nil {
		return nil, err
	}
	mults := falconSSMMultipliers
	if raw, ok := c.Value("ssm_multipliers"); ok {
		list, isList := raw.([]pyjson.Value)
		if !isList {
			return nil, c.Errf("ssm_multipliers", "is %s, want a list of numbers", model.Describe(raw))
		}
		mults = make([]float64, len(list))
		for i := range list {
			v, err := model.ConfigFloat{Key: "ssm_multipliers", List: true, Elem: i}.Read(c)
			if err != nil {
				return nil, err
			}
			mults[i] = v
		}
	}
	sizes := []int{f.dSSM, f.dSSM, f.groups * f.dState, f.groups * f.dState, f.mambaHeads}
	var out []float64
	for i := 0; i < len(sizes) && i < len(mults); i++ {
		for j := 0; j < sizes[i]; j++ {
			out = append(out, mults[i])
		}
	}
	return out, nil
}
