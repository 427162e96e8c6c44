package family

import (
	"fmt"
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"

	"github.com/mlxconv/mlxconv/model"
)

// Dots1 is mlx-lm's dots1 (dots.llm1): q/k norms, dense layers before
// first_k_dense_replace, then a sigmoid router (plain weight plus
// e_score_correction_bias), experts stacked under mlp.experts and shared
// experts.
var Dots1 = &model.Family{
	Name:  "dots1",
	Types: []string{"dots1"},
	MLX: model.MLX{LegacyRope: true, Build: buildDots1, Rules: []model.SanitizeRule{
		model.TiedHead{},
		model.StackExperts{Stack: sameNameExperts("experts"), Layers: "model.layers.", Block: "mlp", Count: "n_routed_experts",
			FirstSparse: "first_k_dense_replace"},
		model.Drop{model.Contains("rotary_emb.inv_freq")},
	}},
	GGUF: &model.GGUF{
		Types: []string{"dots1"}, Arch: "dots1", Vocab: "dots1", SetVocab: model.VocabLoader.BPE,
		Layer: model.WithLayer(map[string]string{
			"mlp.gate":                         "ffn_gate_inp",
			"mlp.gate.e_score_correction_bias": "exp_probs_b.bias",
			"mlp.experts.gate_proj":            "ffn_gate_exps",
			"mlp.experts.up_proj":              "ffn_up_exps",
			"mlp.experts.down_proj":            "ffn_down_exps",
			"mlp.shared_experts.gate_proj":     "ffn_gate_shexp",
			"mlp.shared_experts.up_proj":       "ffn_up_shexp",
			"mlp.shared_experts.down_proj":     "ffn_down_shexp",
		}),
		ExpertOrder: qwenMoEOrder, Params: dots1Params,
		Configs: map[string]*model.HFConfig{"dots1": {Defaults: map[string]any{"vocab_size": 152064, "max_position_embeddings": 2048,
			"hidden_size": 4608, "intermediate_size": 10944, "moe_intermediate_size": 1408, "num_attention_heads": 32,
			"n_shared_experts": nil, "n_routed_experts": nil, "num_experts_per_tok": nil, "first_k_dense_replace": 0, "norm_topk_prob": false,
			"n_group": 1, "topk_group": 1, "num_key_value_heads": 32, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": nil,
			"routed_scaling_factor": 1.0, "sliding_window": 4096, "tie_word_embeddings": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// dots1Params is Dots1Model.set_gguf_parameters: Qwen2MoeModel's, then
// the leading dense blocks, shared experts and expert weighting.
func dots1Params(m *model.Meta) error {
	return model.Steps(
		func() error { return qwenMoEParams(m) },
		func() error { return m.ReqU32("leading_dense_block_count", "first_k_dense_replace") },
		func() error { return m.ReqU32("expert_shared_count", "n_shared_experts") },
		func() error { return m.ReqF32("expert_weights_scale", "routed_scaling_factor") },
		func() error { return expertWeightsNorm(m) },
	)
}

// expertWeightsNorm writes norm_topk_prob as expert_weights_norm.
func expertWeightsNorm(m *model.Meta) error {
	b, ok, err := m.H.FindBool("norm_topk_prob")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: norm_topk_prob is missing", model.ErrExport)
	}
	m.Set(m.ArchKey("expert_weights_norm"), gguf.NewValue(b))
	return nil
}

func buildDots1(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeysRope(c, "model_type", "hidden_size", "num_hidden_layers", "intermediate_size",
		"num_attention_heads", "rms_norm_eps", "vocab_size", "max_position_embeddings", "num_key_value_heads",
		"first_k_dense_replace", "moe_intermediate_size", "n_routed_experts", "n_shared_experts", "norm_topk_prob",
		"num_experts_per_tok", "rope_theta", "routed_scaling_factor"); err != nil {
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
	var kv, headDim, firstDense, moeInter, experts, shared int
	var mlpBias, tie bool
	err = model.Steps(
		func() (err error) { kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { firstDense, err = c.ReqInt("first_k_dense_replace"); return },
		func() (err error) { moeInter, err = c.ReqInt("moe_intermediate_size"); return },
		func() (err error) { experts, err = c.ReqInt("n_routed_experts"); return },
		func() (err error) { shared, err = c.ReqInt("n_shared_experts"); return },
		func() (err error) { headDim, err = c.IntOr("head_dim", 0); return },
		func() (err error) { mlpBias, err = c.BoolOr("mlp_bias", false); return },
		func() (err error) { tie, err = c.BoolOr("tie_word_embeddings", false); return },
	)
	if err != nil {
		return nil, err
	}
	if headDim == 0 {
		headDim = d.Hidden / d.Heads
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, false, false)
		b.Norm(p+".self_attn.q_norm", headDim)
		b.Norm(p+".self_attn.k_norm", headDim)
		if l >= firstDense {
			b.SwitchGLU(p+".mlp.experts", d.Hidden, moeInter, experts)
			b.Params(p+".mlp.gate", model.Param{Name: "weight", Shape: []int{experts, d.Hidden}},
				model.Param{Name: "e_score_correction_bias", Shape: []int{experts}})
			b.MLPGateUpDown(p+".mlp.shared_experts", d.Hidden, moeInter*shared, mlpBias)
		} else {
			b.MLPGateUpDown(p+".mlp", d.Hidden, d.Inter, mlpBias)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}
