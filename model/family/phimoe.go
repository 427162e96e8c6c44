package family

import (
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"

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
	GGUF: &model.GGUF{
		Types: []string{"phimoe"}, Arch: "phimoe", Vocab: "phimoe", SetVocab: phi3Vocab,
		Layer: model.WithLayer(map[string]string{
			"block_sparse_moe.gate":                 "ffn_gate_inp",
			"block_sparse_moe.switch_mlp.gate_proj": "ffn_gate_exps",
			"block_sparse_moe.switch_mlp.down_proj": "ffn_down_exps",
			"block_sparse_moe.switch_mlp.up_proj":   "ffn_up_exps",
		}),
		ExpertOrder: []string{"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps"},
		Params:      phiMoEParams, Extra: phiMoERopeFactors,
		Configs: map[string]*model.HFConfig{"phimoe": {Defaults: map[string]any{"vocab_size": 32064, "max_position_embeddings": 131072,
			"hidden_size": 4096, "intermediate_size": 6400, "num_attention_heads": 32, "sliding_window": nil, "attention_bias": false,
			"lm_head_bias": false, "num_key_value_heads": 8, "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "num_experts_per_tok": 2,
			"num_local_experts": 16, "rope_scaling": nil, "tie_word_embeddings": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// phiMoERopeFactors is Phi3MiniModel.generate_extra_tensors under the
// phimoe architecture's keys.
func phiMoERopeFactors(h *model.HParams, rope *model.Rope) ([]model.ExtraTensor, []gguf.KV, error) {
	ts, kvs, err := phi3RopeFactors(h, rope)
	for i := range kvs {
		if rest, ok := strings.CutPrefix(kvs[i].Key, "phi3."); ok {
			kvs[i].Key = "phimoe." + rest
		}
	}
	return ts, kvs, err
}

// phiMoEParams is PhiMoeModel.set_gguf_parameters: Phi3MiniModel's, then
// the expert counts.
func phiMoEParams(m *model.Meta) error {
	return model.Steps(
		func() error { return phi3Params(m) },
		func() error { return m.ReqU32("expert_used_count", "num_experts_per_tok", "num_experts_per_token") },
		func() error { return m.ReqU32("expert_count", "num_local_experts", "num_experts") },
	)
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
