package family

import (
	"fmt"
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Mamba2 is mlx-lm's mamba2: SSD blocks under backbone, one conv1d over
// x, B and C, per-head dt_bias, A_log and D, a gated RMSNorm.
var Mamba2 = &model.Family{
	Name:  "mamba2",
	Types: []string{"mamba2"},
	MLX: model.MLX{Build: buildMamba2, Rules: []model.SanitizeRule{
		model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, If: model.LastDimNot1, Op: model.ValueSwapLast2},
	}},
	// Mamba2Model: config.json read as is (no config class), the
	// vocabulary padded to pad_vocab_size_multiple (16), dt_bias as
	// ssm_dt.bias, A = -exp(A_log) and D as columns, the conv1d weight
	// squeezed, the gated norm in n_groups rows.
	GGUF: &model.GGUF{
		Types: []string{"mamba2"}, Arch: "mamba2", Vocab: "mamba2", SetVocab: mamba2Vocab, Params: mamba2Params,
		Blocks: "backbone.layers.",
		Global: map[string]string{"backbone.embeddings": "token_embd", "backbone.norm_f": "output_norm"},
		Layer: map[string]string{
			"norm":           "attn_norm",
			"mixer.in_proj":  "ssm_in",
			"mixer.conv1d":   "ssm_conv1d",
			"mixer.dt_bias":  "ssm_dt.bias",
			"mixer.A_log":    "ssm_a",
			"mixer.D":        "ssm_d",
			"mixer.norm":     "ssm_norm",
			"mixer.out_proj": "ssm_out",
		},
		Tensors: map[string]model.TensorRule{"ssm_conv1d.weight": {Squeeze: true}, "ssm_a": {Column: true, NegExp: true},
			"ssm_d": {Column: true}, "ssm_norm.weight": {Groups: []string{"n_groups"}}},
		VocabPad: model.PadVocab(16, true),
	},
}

// mamba2Vocab is Mamba2Model.set_vocab (the vocabulary size padded by
// VocabPad): tokenizer.model first, else tokenizer.json as GPT-2 BPE; the
// converter's built-in GPT-NeoX vocabulary is not supported.
func mamba2Vocab(l model.VocabLoader) error {
	switch {
	case l.HasSPM():
		return l.SPM(false)
	case l.HasTokenizerJSON():
		return l.BPE()
	}
	return l.Errorf("no tokenizer.model or tokenizer.json (the converter's built-in GPT-NeoX vocabulary is not supported)")
}

// mamba2Params is Mamba2Model.set_gguf_parameters.
func mamba2Params(m *model.Meta) error {
	dModel, err := m.H.ReqU32("hidden_size", "d_model", "dim")
	if err != nil {
		return err
	}
	var expand, inner, groups, conv, state, headDim int64
	err = model.Steps(
		func() (err error) { expand, err = orU32(m.H, 2, "mamba_expand", "expand"); return },
		func() (err error) {
			inner, err = orU32(m.H, expand*dModel, "mamba_d_ssm", "intermediate_size", "d_inner")
			return
		},
		func() (err error) { groups, err = orU32(m.H, 1, "n_groups"); return },
		func() (err error) { conv, err = orU32(m.H, 4, "conv_kernel", "d_conv"); return },
		func() (err error) { state, err = orU32(m.H, 128, "state_size", "d_state"); return },
		func() (err error) { headDim, err = orU32(m.H, 64, "mamba_d_head", "head_dim"); return },
	)
	if err != nil {
		return err
	}
	eps, err := orF64(m.H, 1e-5, "layer_norm_epsilon", "rms_norm_eps")
	if err != nil {
		return err
	}
	if inner != expand*dModel || inner%headDim != 0 {
		return fmt.Errorf("%w: mamba2 with d_inner %d (expand %d, d_model %d, head_dim %d) is not supported (the converter asserts d_inner = expand * d_model, a multiple of head_dim)",
			model.ErrExport, inner, expand, dModel, headDim)
	}
	u32 := []int64{1 << 20, dModel, 0, 0, m.BlockCount, conv, inner, state, inner / headDim}
	for i, k := range []string{"context_length", "embedding_length", "feed_forward_length", "attention.head_count", "block_count",
		"ssm.conv_kernel", "ssm.inner_size", "ssm.state_size", "ssm.time_step_rank"} {
		if err := m.U32(k, u32[i]); err != nil {
			return err
		}
	}
	if err := m.U32("ssm.group_count", groups); err != nil {
		return err
	}
	m.F32("attention.layer_norm_rms_epsilon", eps)
	m.Set("general.file_type", gguf.NewValue(uint32(m.FileType)))
	return nil
}

func buildMamba2(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "num_heads", "head_dim", "vocab_size", "hidden_size", "intermediate_size", "state_size",
		"num_hidden_layers", "layer_norm_epsilon", "conv_kernel", "n_groups", "use_bias", "use_conv_bias",
		"tie_word_embeddings", "time_step_limit", "time_step_rank"); err != nil {
		return nil, err
	}
	var heads, headDim, vocab, hidden, state, kernel, groups int
	if err := posInts(c, posInt{"num_heads", &heads}, posInt{"head_dim", &headDim}, posInt{"vocab_size", &vocab},
		posInt{"hidden_size", &hidden}, posInt{"state_size", &state}, posInt{"conv_kernel", &kernel},
		posInt{"n_groups", &groups}); err != nil {
		return nil, err
	}
	state, err := c.IntOr("ssm_state_size", state)
	if err != nil {
		return nil, err
	}
	layers, err := model.LayerCount(c)
	if err != nil {
		return nil, err
	}
	bias, convBias, tie, err := mambaFlags(c, "use_bias", "use_conv_bias", "tie_word_embeddings")
	if err != nil {
		return nil, err
	}
	m := mamba2Mixer{hidden: hidden, heads: heads, inner: heads * headDim, state: state, groups: groups, kernel: kernel,
		bias: bias, convBias: convBias}
	var b model.Builder
	b.Embedding("backbone.embeddings", vocab, hidden)
	for l := 0; l < layers; l++ {
		p := "backbone.layers." + strconv.Itoa(l)
		m.add(&b, p+".mixer")
		b.Norm(p+".norm", hidden)
	}
	b.Norm("backbone.norm_f", hidden)
	if !tie {
		b.Linear("lm_head", hidden, vocab, false)
	}
	return b.Tree(layers), nil
}

// mamba2Mixer is the shape of a Mamba-2 mixer (mlx-lm's Mamba2Block, and
// the mamba layers of the hybrid models).
type mamba2Mixer struct {
	hidden, heads, inner, state, groups, kernel int
	bias, convBias                              bool
}

func (m mamba2Mixer) convDim() int { return m.inner + 2*m.groups*m.state }

// add adds the mixer at p in Mamba2Block's attribute order: conv1d,
// in_proj, dt_bias, A_log, D, norm, out_proj.
func (m mamba2Mixer) add(b *model.Builder, p string) {
	b.DepthwiseConv1d(p+".conv1d", m.convDim(), m.kernel, m.convBias)
	b.Linear(p+".in_proj", m.hidden, m.inner+m.convDim()+m.heads, m.bias)
	h := []int{m.heads}
	b.BlockParams(p, model.Param{Name: "dt_bias", Shape: h}, model.Param{Name: "A_log", Shape: h}, model.Param{Name: "D", Shape: h})
	b.Norm(p+".norm", m.inner)
	b.Linear(p+".out_proj", m.inner, m.hidden, m.bias)
}
