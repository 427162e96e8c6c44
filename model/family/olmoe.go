package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// OLMoE is mlx-lm's olmoe: q/k norms over all heads, a softmax router and
// experts in every layer.
var OLMoE = &model.Family{
	Name:  "olmoe",
	Types: []string{"olmoe"},
	MLX: model.MLX{LegacyRope: true, Build: buildOLMoE, Rules: []model.SanitizeRule{
		model.StackExperts{Stack: qwenMoEExperts(model.QuantParts, true), Layers: "model.layers.", Block: "mlp", Count: "num_experts", Gate: true},
	}},
	GGUF: &model.GGUF{
		Types: []string{"olmoe"}, Arch: "olmoe", Vocab: "olmoe", SetVocab: model.VocabLoader.BPE, Layer: qwenMoELayer, ExpertOrder: qwenMoEOrder,
		Params: olmoeParams,
		Configs: map[string]*model.HFConfig{"olmoe": {Defaults: map[string]any{"vocab_size": 50304, "max_position_embeddings": 4096,
			"hidden_size": 2048, "intermediate_size": 2048, "num_attention_heads": 16, "num_key_value_heads": 16, "rms_norm_eps": 1e-5,
			"rope_theta": 10000.0, "rope_scaling": nil, "num_experts_per_tok": 8, "num_experts": 64, "tie_word_embeddings": false},
			KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// olmoeParams is OlmoeModel.set_gguf_parameters: TextModel's, with the RMS
// norm epsilon overwritten by 1e-5.
func olmoeParams(m *model.Meta) error {
	if err := model.TextParams(m); err != nil {
		return err
	}
	m.F32("attention.layer_norm_rms_epsilon", 1e-5)
	return nil
}

func buildOLMoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
		"rms_norm_eps", "vocab_size", "num_experts", "num_experts_per_tok"); err != nil {
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
	var headDim, kv, experts int
	var attnBias, mlpBias, tie bool
	err = model.Steps(
		func() (err error) { experts, err = c.ReqInt("num_experts"); return },
		func() (err error) { headDim, err = c.IntOr("head_dim", 0); return },
		func() (err error) { kv, err = c.IntOr("num_key_value_heads", d.Heads); return },
		func() (err error) { attnBias, err = c.BoolOr("attention_bias", false); return },
		func() (err error) { mlpBias, err = c.BoolOr("mlp_bias", false); return },
		func() (err error) { tie, err = c.BoolOr("tie_word_embeddings", true); return },
	)
	if err != nil {
		return nil, err
	}
	if headDim == 0 {
		headDim = d.Hidden / d.Heads // head_dim or hidden_size // n_heads
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, attnBias, attnBias)
		b.Norm(p+".self_attn.q_norm", d.Heads*headDim)
		b.Norm(p+".self_attn.k_norm", kv*headDim)
		b.Linear(p+".mlp.gate", d.Hidden, experts, false)
		b.SwitchGLUBias(p+".mlp.switch_mlp", d.Hidden, d.Inter, experts, mlpBias)
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}
