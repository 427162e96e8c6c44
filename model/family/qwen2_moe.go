package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// Qwen2MoE is mlx-lm's qwen2_moe.
var Qwen2MoE = &model.Family{
	Name:  "qwen2_moe",
	Types: []string{"qwen2_moe"},
	MLX:   model.MLX{Build: buildQwen2MoE, Sanitize: sanitizeQwen2MoE},
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

var qwen2MoEExperts = model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
	Names: [][2]string{{"up_proj", "up_proj"}, {"down_proj", "down_proj"}, {"gate_proj", "gate_proj"}}, Parts: model.QuantParts, Optional: true}

func sanitizeQwen2MoE(_ *model.Tree, c model.Config, ts model.Tensors) error {
	if !ts.Has("model.layers.0.mlp.experts.0.up_proj.weight") {
		return nil
	}
	layers, _ := c.IntOr("num_hidden_layers", 0)
	experts, _ := c.IntOr("num_experts", 0)
	if err := model.CheckExperts(experts, layers, ts); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		if err := qwen2MoEExperts.Apply(ts, "model.layers."+strconv.Itoa(l)+".mlp", experts); err != nil {
			return err
		}
	}
	return nil
}
