package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// PhiMoE is mlx-lm's phimoe (Phi-3.5-MoE): biased attention, LayerNorms,
// mixtral-style w1/w2/w3 experts, an lm_head with a bias.
var PhiMoE = &model.Family{
	Name:  "phimoe",
	Types: []string{"phimoe"},
	MLX: model.MLX{LegacyRope: true, Build: buildPhiMoE, Rules: []model.SanitizeRule{
		model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
			Names: [][2]string{{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}}, Parts: model.QuantParts, Optional: true},
			Layers: "model.layers.", Block: "block_sparse_moe", Count: "num_local_experts", CountDefault: 16, LayersDefault: 32, Gate: true},
	}},
}

// suScaledKeys are the rope_scaling keys SuScaledRoPE reads.
var suScaledKeys = []string{"short_factor", "long_factor", "short_mscale", "long_mscale"}

func readPhiMoE(c model.Config) (d model.Dims, layers, kv, experts int, err error) {
	var topK int
	err = model.IntsOr(c, model.IntDefault{Key: "vocab_size", Dst: &d.Vocab, Def: 32064},
		model.IntDefault{Key: "hidden_size", Dst: &d.Hidden, Def: 4096},
		model.IntDefault{Key: "intermediate_size", Dst: &d.Inter, Def: 6400},
		model.IntDefault{Key: "num_hidden_layers", Dst: &layers, Def: 32},
		model.IntDefault{Key: "num_attention_heads", Dst: &d.Heads, Def: 32},
		model.IntDefault{Key: "num_key_value_heads", Dst: &kv, Def: 8},
		model.IntDefault{Key: "num_local_experts", Dst: &experts, Def: 16},
		model.IntDefault{Key: "num_experts_per_tok", Dst: &topK, Def: 2})
	switch {
	case err != nil:
	case d.Heads == 0:
		err = c.Errf("num_attention_heads", "is 0")
	case c.Present("num_key_value_heads") && !c.Has("num_key_value_heads"):
		err = c.Errf("num_key_value_heads", "is null")
	case layers > model.MaxLayers:
		err = c.Errf("num_hidden_layers", "is %d, too many", layers)
	case topK > experts:
		err = c.Errf("num_experts_per_tok", "(%d) is larger than num_local_experts (%d)", topK, experts)
	}
	if rs := c.Object("rope_scaling"); err == nil && rs != nil {
		for _, k := range suScaledKeys {
			if _, ok := rs.Get(k); !ok {
				return d, layers, kv, experts, c.Errf("rope_scaling", "has no %q", k)
			}
		}
	}
	return d, layers, kv, experts, err
}

func buildPhiMoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	d, layers, kv, experts, err := readPhiMoE(c)
	if err != nil {
		return nil, err
	}
	headDim := d.Hidden / d.Heads
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, true, true)
		b.Linear(p+".block_sparse_moe.gate", d.Hidden, experts, false)
		b.SwitchGLU(p+".block_sparse_moe.switch_mlp", d.Hidden, d.Inter, experts)
		b.LayerNorm(p+".input_layernorm", d.Hidden)
		b.LayerNorm(p+".post_attention_layernorm", d.Hidden)
	}
	b.LayerNorm("model.norm", d.Hidden)
	b.Linear("lm_head", d.Hidden, d.Vocab, true)
	return b.Tree(layers), nil
}
