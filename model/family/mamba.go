package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// Mamba is mlx-lm's mamba (and falcon_mamba, its MODEL_REMAPPING alias):
// selective-scan blocks under backbone, conv1d weights moved to MLX's
// [channels, kernel, 1].
var Mamba = &model.Family{
	Name:  "mamba",
	Types: []string{"mamba", "falcon_mamba"},
	MLX: model.MLX{Build: buildMamba, Rules: []model.SanitizeRule{
		model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, If: model.LastDimNot1, Op: model.ValueSwapLast2},
	}},
}

// mambaLayer is the name hybrid configs give a Mamba layer in their layer
// type lists (jamba, granitemoehybrid, nemotron_h's legacy names): the
// model_type's spelling, kept in this one file.
const mambaLayer = "mamba"

func buildMamba(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "vocab_size", "hidden_size", "intermediate_size", "state_size", "num_hidden_layers",
		"conv_kernel", "use_bias", "use_conv_bias", "time_step_rank"); err != nil {
		return nil, err
	}
	var vocab, hidden, inter, state, kernel int
	if err := posInts(c, posInt{"vocab_size", &vocab}, posInt{"hidden_size", &hidden}, posInt{"intermediate_size", &inter},
		posInt{"state_size", &state}, posInt{"conv_kernel", &kernel}); err != nil {
		return nil, err
	}
	layers, err := model.LayerCount(c)
	if err != nil {
		return nil, err
	}
	rank, err := dtRank(c, "time_step_rank", hidden)
	if err != nil {
		return nil, err
	}
	bias, convBias, tie, err := mambaFlags(c, "use_bias", "use_conv_bias", "tie_word_embeddings")
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("backbone.embeddings", vocab, hidden)
	for l := 0; l < layers; l++ {
		p := "backbone.layers." + strconv.Itoa(l)
		b.Linear(p+".mixer.in_proj", hidden, 2*inter, bias)
		b.DepthwiseConv1d(p+".mixer.conv1d", inter, kernel, convBias)
		b.Linear(p+".mixer.x_proj", inter, rank+2*state, false)
		b.Linear(p+".mixer.dt_proj", rank, inter, true)
		b.BlockParams(p+".mixer", model.Param{Name: "A_log", Shape: []int{inter, state}}, model.Param{Name: "D", Shape: []int{inter}})
		b.Linear(p+".mixer.out_proj", inter, hidden, bias)
		b.Norm(p+".norm", hidden)
	}
	b.Norm("backbone.norm_f", hidden)
	if !tie {
		b.Linear("lm_head", hidden, vocab, false)
	}
	return b.Tree(layers), nil
}

// mambaFlags reads the bool flags use_bias and use_conv_bias (required)
// and tie_word_embeddings (default true), in that order.
func mambaFlags(c model.Config, bias, convBias, tie string) (b, cb, t bool, err error) {
	if b, err = c.BoolOr(bias, false); err != nil {
		return
	}
	if cb, err = c.BoolOr(convBias, false); err != nil {
		return
	}
	t, err = c.BoolOr(tie, true)
	return
}

// posInt is a required positive integer field and its destination.
type posInt struct {
	key string
	dst *int
}

// posInts reads required positive integers in order; the first failure is
// the error.
func posInts(c model.Config, fields ...posInt) error {
	for _, f := range fields {
		v, err := c.PosInt(f.key)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	return nil
}
