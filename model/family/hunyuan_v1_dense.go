package family

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// HunyuanV1Dense is mlx-lm's hunyuan_v1_dense: q/k norms named
// query_layernorm and key_layernorm, present unless use_qk_norm is false;
// attention_bias on all four projections, no MLP bias, untied by default.
// On the GGUF side it is llama.cpp's HunYuanModel (hunyuan-dense): the
// NTK-alpha rope folded into rope.freq_base, eos from eod_token_id and eot
// from generation_config.json's first eos.
var HunyuanV1Dense = &model.Family{
	Name:  "hunyuan_v1_dense",
	Types: []string{"hunyuan_v1_dense"},
	MLX: (&model.Dense{
		Required: []string{"vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
			"num_key_value_heads", "rms_norm_eps"},
		KvRequired: true, HeadDim: model.HeadDimOptional, AttnBias: "attention_bias",
		QkNorm: true, QkNormKey: "use_qk_norm", QkNormNames: [2]string{"query_layernorm", "key_layernorm"},
		Norms: model.TwoNorms, Check: checkHunyuanRope, Rules: []model.SanitizeRule{model.TiedHead{}},
	}).MLX(),
	GGUF: &model.GGUF{
		Types: []string{"hunyuan_v1_dense"}, Arch: "hunyuan-dense", Vocab: "hunyuan-dense", SetVocab: hunyuanDenseVocab, DropTiedHead: true,
		Layer: model.WithLayer(map[string]string{
			"self_attn.query_layernorm": "attn_q_norm",
			"self_attn.key_layernorm":   "attn_k_norm",
		}),
		Params: hunyuanDenseParams,
		Configs: map[string]*model.HFConfig{"hunyuan_v1_dense": {Defaults: map[string]any{"vocab_size": 290943, "hidden_size": 4096,
			"intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "max_position_embeddings": 2048,
			"rms_norm_eps": 1e-5, "tie_word_embeddings": false, "rope_theta": 10000.0, "rope_scaling": nil, "attention_bias": false,
			"head_dim": nil}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// checkHunyuanRope is ModelArgs.__post_init__: a rope_scaling has alpha,
// factor and type.
func checkHunyuanRope(c model.Config) error {
	_, err := ropeScalingKeys(c, "alpha", "factor", "type")
	return err
}

// hunyuanDenseParams is HunYuanModel.set_gguf_parameters: TextModel's
// (num_experts hidden from it), then for a dynamic rope the NTK-alpha base
// (default alpha 50) with a 256k context.
func hunyuanDenseParams(m *model.Meta) error {
	if err := model.TextParams(m); err != nil {
		return err
	}
	t, err := m.Rope.RopeType()
	if err != nil || t != "dynamic" {
		return err // xdrope is HunyuanVL's, not exported
	}
	dim, ok, err := m.H.FindU32("head_dim")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: hunyuan-dense dynamic rope without head_dim", model.ErrExport)
	}
	return hunyuanAlphaRope(m, dim, 50, nil)
}

// hunyuanAlphaRope writes HunYuan's NTK-aware alpha scaling:
// rope.freq_base = rope_theta * alpha^(dim/(dim-2)), no scaling type,
// factor 1, a 256k context and original context; check is the converter's
// assertion on alpha and base (nil: none beyond the base).
func hunyuanAlphaRope(m *model.Meta, dim int64, defAlpha float64, check func(alpha, base float64) bool) error {
	alpha, err := m.Rope.FloatOr("alpha", defAlpha)
	if err != nil {
		return err
	}
	base, err := m.Rope.FloatOr("rope_theta", 10000.0)
	if err != nil {
		return err
	}
	maxPos, _, err := m.H.FindU32("max_position_embeddings")
	if err != nil {
		return err
	}
	if dim <= 2 || base != 10000.0 || (maxPos != 32*1024 && maxPos != 256*1024) || (check != nil && !check(alpha, base)) {
		return fmt.Errorf("%w: HunYuan dynamic RoPE scaling assumptions changed (alpha %v, rope_theta %v, head dim %d, max_position_embeddings %d)",
			model.ErrExport, alpha, base, dim, maxPos)
	}
	m.F32("rope.freq_base", base*math.Pow(alpha, float64(dim)/float64(dim-2)))
	m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("none"))
	m.F32("rope.scaling.factor", 1)
	return model.Steps(
		func() error { return m.U32("rope.scaling.original_context_length", 256*1024) },
		func() error { return m.U32("context_length", 256*1024) },
	)
}

// hunyuanDenseVocab is HunYuanModel.set_vocab for a tokenizer.json: BPE,
// then eot from generation_config.json's first eos when it lists two or
// more. Its eos from eod_token_id never applies to a hunyuan_v1_dense
// config: HunYuanDenseV1Config takes eod_token_id as an argument and does
// not keep it, so the converter's hparams have none.
func hunyuanDenseVocab(l model.VocabLoader) error {
	if err := l.BPE(); err != nil {
		return err
	}
	gen, err := l.GenerationConfig()
	if err != nil || gen == nil {
		return err
	}
	eos, _ := gen["eos_token_id"].([]any)
	if len(eos) < 2 {
		return nil
	}
	n, _ := eos[0].(json.Number)
	id, err := n.Int64()
	if err != nil {
		return l.Errorf("generation_config.json: eos_token_id[0] is %v, not an integer", eos[0])
	}
	return l.SetTokenID("eot", id)
}
