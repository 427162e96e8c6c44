package family

import (
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/model"
)

// Glm4MoE is mlx-lm's glm4_moe (GLM-4.5): dense layers before
// first_k_dense_replace, then a sigmoid router (a plain weight plus an
// e_score_correction_bias kept out of the dtype cast), routed and shared
// experts; the next-n (MTP) layer is dropped.
var Glm4MoE = &model.Family{
	Name:  "glm4_moe",
	Types: []string{"glm4_moe"},
	MLX: model.MLX{LegacyRope: true, Build: buildGlm4MoE, KeepDType: scoreBias, Rules: []model.SanitizeRule{
		model.StackExperts{Stack: sameNameExperts("switch_mlp"), Layers: "model.layers.", Block: "mlp", Count: "n_routed_experts"},
		model.Drop{model.Prefix("model.layers.{num_hidden_layers}")}, // the next-n (MTP) layer
	}},
}

// scoreBias is the negated cast_predicate of the models whose router
// keeps its e_score_correction_bias in its own dtype.
func scoreBias(name string) bool { return strings.Contains(name, "e_score_correction_bias") }

func buildGlm4MoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeysRope(c, "vocab_size", "hidden_size", "intermediate_size", "max_position_embeddings",
		"moe_intermediate_size", "norm_topk_prob", "num_attention_heads", "n_group", "head_dim", "topk_group",
		"n_shared_experts", "n_routed_experts", "routed_scaling_factor", "num_experts_per_tok", "first_k_dense_replace",
		"num_hidden_layers", "num_key_value_heads", "rms_norm_eps", "rope_theta", "rope_scaling", "use_qk_norm",
		"tie_word_embeddings", "attention_bias", "partial_rotary_factor"); err != nil {
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
	var kv, headDim, moeInter, firstDense, experts, shared int
	var hasExperts, hasShared, qkNorm, bias bool
	err = model.Steps(
		func() (err error) { kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { headDim, err = c.PosInt("head_dim"); return },
		func() (err error) { moeInter, err = c.ReqInt("moe_intermediate_size"); return },
		func() (err error) { firstDense, err = c.ReqInt("first_k_dense_replace"); return },
		func() (err error) { experts, hasExperts, err = c.OptInt("n_routed_experts"); return },
		func() (err error) { shared, hasShared, err = c.OptInt("n_shared_experts"); return },
		func() (err error) { qkNorm, err = c.BoolOr("use_qk_norm", false); return },
		func() (err error) { bias, err = c.BoolOr("attention_bias", false); return },
	)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, bias, false)
		if qkNorm {
			b.Norm(p+".self_attn.q_norm", headDim)
			b.Norm(p+".self_attn.k_norm", headDim)
		}
		if hasExperts && l >= firstDense {
			b.SwitchGLU(p+".mlp.switch_mlp", d.Hidden, moeInter, experts)
			b.Params(p+".mlp.gate", model.Param{Name: "weight", Shape: []int{experts, d.Hidden}},
				model.Param{Name: "e_score_correction_bias", Shape: []int{experts}})
			if hasShared {
				b.MLPGateUpDown(p+".mlp.shared_experts", d.Hidden, moeInter*shared, false)
			}
		} else {
			b.MLPGateUpDown(p+".mlp", d.Hidden, d.Inter, false)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	b.Linear("lm_head", d.Hidden, d.Vocab, false)
	return b.Tree(layers), nil
}

// sameNameExperts stacks experts.<e>.{gate,down,up}_proj into
// <stacked>.{gate,down,up}_proj, quantized parts included.
func sameNameExperts(stacked string) model.ExpertStack {
	return model.ExpertStack{Experts: "experts", Stacked: stacked,
		Names: [][2]string{{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}}, Parts: model.QuantParts, Optional: true}
}
