package family

import (
	"fmt"
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"
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
	// MambaModel: config.json read as is (no config class), the vocabulary
	// padded to pad_vocab_size_multiple (8), A = -exp(A_log), the conv1d
	// weight squeezed to [channels, kernel].
	GGUF: &model.GGUF{
		Types: []string{"mamba", "falcon_mamba"}, Arch: "mamba", Vocab: "mamba", SetVocab: mambaVocab, Params: mambaParams,
		Blocks: "backbone.layers.",
		Global: map[string]string{"backbone.embeddings": "token_embd", "backbone.norm_f": "output_norm"},
		Layer: map[string]string{
			"norm":           "attn_norm",
			"mixer.in_proj":  "ssm_in",
			"mixer.conv1d":   "ssm_conv1d",
			"mixer.x_proj":   "ssm_x",
			"mixer.dt_proj":  "ssm_dt",
			"mixer.A_log":    "ssm_a",
			"mixer.D":        "ssm_d",
			"mixer.out_proj": "ssm_out",
		},
		Tensors:  map[string]model.TensorRule{"ssm_conv1d.weight": {Squeeze: true}, "ssm_a": {NegExp: true}},
		VocabPad: model.PadVocab(8, true),
	},
}

// mambaVocab is MambaModel.set_vocab (the vocabulary size padded by
// VocabPad): tokenizer.json as GPT-2 BPE, else tokenizer.model; the
// converter's built-in GPT-NeoX vocabulary for a model without either is
// not supported.
func mambaVocab(l model.VocabLoader) error {
	switch {
	case l.HasTokenizerJSON():
		return l.BPE()
	case l.HasSPM():
		return l.SPM(false)
	}
	return l.Errorf("no tokenizer.json or tokenizer.model (the converter's built-in GPT-NeoX vocabulary is not supported)")
}

// orU32 is find_hparam(keys, optional=True) or def: the first present
// key, def when none is or its value is 0.
func orU32(h *model.HParams, def int64, keys ...string) (int64, error) {
	n, ok, err := h.FindU32(keys...)
	if err != nil || !ok || n == 0 {
		return def, err
	}
	return n, nil
}

// orF64 is orU32 for a float hparam: the first of keys the config has,
// else def (also for an explicit 0, as the converter's `or` does).
func orF64(h *model.HParams, def float64, keys ...string) (float64, error) {
	x, ok, err := h.FindFloat(keys...)
	if err != nil || !ok || x == 0 {
		return def, err
	}
	return x, nil
}

// mambaParams is MambaModel.set_gguf_parameters.
func mambaParams(m *model.Meta) error {
	dModel, err := m.H.ReqU32("hidden_size", "d_model")
	if err != nil {
		return err
	}
	var conv, inner, state, rank int64
	err = model.Steps(
		func() (err error) { conv, err = orU32(m.H, 4, "conv_kernel", "d_conv"); return },
		func() (err error) { inner, err = orU32(m.H, 2*dModel, "intermediate_size", "d_inner"); return },
		func() (err error) { state, err = orU32(m.H, 16, "state_size", "d_state"); return },
		func() (err error) { rank, err = orU32(m.H, (dModel+15)/16, "time_step_rank", "dt_rank"); return },
	)
	if err != nil {
		return err
	}
	eps, err := orF64(m.H, 1e-5, "layer_norm_epsilon", "rms_norm_eps")
	if err != nil {
		return err
	}
	mt, _, err := m.H.FindString("model_type")
	if err != nil {
		return err
	}
	if inner != 2*dModel {
		return fmt.Errorf("%w: mamba with d_inner %d != 2 * d_model %d is not supported (the converter asserts it)", model.ErrExport, inner, dModel)
	}
	return mambaKVs(m, []int64{1 << 20, dModel, 0, 0, m.BlockCount, conv, inner, state, rank}, eps, mt == "falcon_mamba")
}

// mambaKVs writes MambaModel's KVs in its order: context, embedding,
// feed-forward and head counts, blocks, the ssm sizes (u32 values in that
// order), the norm epsilon, dt_b_c_rms (Falcon-Mamba) and the file type.
func mambaKVs(m *model.Meta, u32 []int64, eps float64, dtBCRMS bool) error {
	keys := []string{"context_length", "embedding_length", "feed_forward_length", "attention.head_count", "block_count",
		"ssm.conv_kernel", "ssm.inner_size", "ssm.state_size", "ssm.time_step_rank"}
	for i, k := range keys {
		if err := m.U32(k, u32[i]); err != nil {
			return err
		}
	}
	m.F32("attention.layer_norm_rms_epsilon", eps)
	m.Set(m.ArchKey("ssm.dt_b_c_rms"), gguf.NewValue(dtBCRMS))
	m.Set("general.file_type", gguf.NewValue(uint32(m.FileType)))
	return nil
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
