package family

import (
	"strconv"

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
