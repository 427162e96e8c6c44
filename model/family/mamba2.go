package family

import (
	"strconv"

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
