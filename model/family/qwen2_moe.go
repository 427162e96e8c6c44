package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// Qwen2MoE is mlx-lm's qwen2_moe.
var Qwen2MoE = &model.Family{
	Name:  "qwen2_moe",
	Types: []string{"qwen2_moe"},
	MLX: model.MLX{Build: buildQwen2MoE, Rules: []model.SanitizeRule{
		model.StackExperts{Stack: qwenMoEExperts(model.QuantParts, true), Layers: "model.layers.", Block: "mlp", Count: "num_experts", Gate: true},
	}},
	GGUF: &model.GGUF{
		Types: []string{"qwen2_moe"}, Arch: "qwen2moe", Vocab: "qwen2moe", SetVocab: model.VocabLoader.BPE, Layer: qwenMoELayer, ExpertOrder: qwenMoEOrder, Params: qwenMoEParams,
		Configs: map[string]*model.HFConfig{"qwen2_moe": {Defaults: map[string]any{"max_position_embeddings": 32768, "num_key_value_heads": 16,
			"rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil, "num_experts": 60, "num_experts_per_tok": 4,
			"decoder_sparse_step": 1, "mlp_only_layers": []any{}, "norm_topk_prob": false, "tie_word_embeddings": false,
			"moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632}, SlidingWindowFlag: true}},
		// Qwen2MoeModel.modify_tensors: find_hparam(["num_local_experts", "num_experts"]).
		Aliases: map[string][]string{"num_experts": {"num_local_experts", "num_experts"}},
	},
}

func buildQwen2MoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "num_experts_per_tok",
		"num_experts", "moe_intermediate_size", "shared_expert_intermediate_size", "rms_norm_eps", "vocab_size"); err != nil {
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
	kv, err := c.IntOr("num_key_value_heads", d.Heads)
	if err != nil {
		return nil, err
	}
	var experts, moeInter, sharedInter int
	for _, f := range []struct {
		key string
		dst *int
	}{{"num_experts", &experts}, {"moe_intermediate_size", &moeInter}, {"shared_expert_intermediate_size", &sharedInter}} {
		if *f.dst, err = c.PosInt(f.key); err != nil {
			return nil, err
		}
	}
	headDim := d.Hidden / d.Heads
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, true, false)
		b.Linear(p+".mlp.gate", d.Hidden, experts, false)
		b.SwitchGLU(p+".mlp.switch_mlp", d.Hidden, moeInter, experts)
		b.MLP(p+".mlp.shared_expert", d.Hidden, sharedInter, false)
		b.Linear(p+".mlp.shared_expert_gate", d.Hidden, 1, false)
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	b.Linear("lm_head", d.Hidden, d.Vocab, false) // qwen2_moe always has one
	return b.Tree(layers), nil
}

// qwenMoEExperts is the Qwen MoE blocks' expert stacking.
func qwenMoEExperts(parts []string, optional bool) model.ExpertStack {
	return model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
		Names: [][2]string{{"up_proj", "up_proj"}, {"down_proj", "down_proj"}, {"gate_proj", "gate_proj"}}, Parts: parts, Optional: optional}
}

// qwenMoELayer and qwenMoEOrder are Qwen2MoeModel's (and Qwen3MoeModel's)
// tensor names and expert order.
var (
	qwenMoELayer = model.WithLayer(map[string]string{
		"mlp.gate":                    "ffn_gate_inp",
		"mlp.switch_mlp.gate_proj":    "ffn_gate_exps",
		"mlp.switch_mlp.up_proj":      "ffn_up_exps",
		"mlp.switch_mlp.down_proj":    "ffn_down_exps",
		"mlp.shared_expert.gate_proj": "ffn_gate_shexp",
		"mlp.shared_expert.up_proj":   "ffn_up_shexp",
		"mlp.shared_expert.down_proj": "ffn_down_shexp",
		"mlp.shared_expert_gate":      "ffn_gate_inp_shexp",
	})
	qwenMoEOrder = []string{"ffn_down_exps", "ffn_gate_exps", "ffn_up_exps"}
)

func qwenMoEParams(m *model.Meta) error {
	if err := model.TextParams(m); err != nil {
		return err
	}
	if err := m.OptU32("expert_feed_forward_length", "moe_intermediate_size"); err != nil {
		return err
	}
	return m.OptU32("expert_shared_feed_forward_length", "shared_expert_intermediate_size")
}
