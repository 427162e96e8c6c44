package family

import (
	"slices"
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// Qwen3MoE is mlx-lm's qwen3_moe: sparse layers every decoder_sparse_step
// (except mlp_only_layers), 8-bit routers.
var Qwen3MoE = &model.Family{
	Name:  "qwen3_moe",
	Types: []string{"qwen3_moe"},
	MLX: model.MLX{Build: buildQwen3MoE, Pred: model.RouterPred("mlp.gate"), Rules: []model.SanitizeRule{
		model.TiedHead{},
		model.StackExperts{Stack: qwenMoEExperts([]string{"weight"}, false), Layers: "model.layers.", Block: "mlp", Count: "num_experts",
			From: model.LayersFromNames},
	}},
	GGUF: &model.GGUF{
		Types: []string{"qwen3_moe"}, Arch: "qwen3moe", Vocab: "qwen3moe", SetVocab: model.VocabLoader.BPE, Layer: qwenMoELayer, ExpertOrder: qwenMoEOrder, Params: qwenMoEParams,
		Configs: map[string]*model.HFConfig{"qwen3_moe": {Defaults: map[string]any{"max_position_embeddings": 32768, "num_key_value_heads": 4,
			"rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil, "num_experts": 128, "num_experts_per_tok": 8,
			"decoder_sparse_step": 1, "mlp_only_layers": []any{}, "norm_topk_prob": false, "tie_word_embeddings": false,
			"moe_intermediate_size": 768}, SlidingWindowFlag: true}},
		// Qwen2MoeModel.modify_tensors: find_hparam(["num_local_experts", "num_experts"]).
		Aliases: map[string][]string{"num_experts": {"num_local_experts", "num_experts"}},
	},
}

func buildQwen3MoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "num_experts",
		"num_experts_per_tok", "decoder_sparse_step", "mlp_only_layers", "moe_intermediate_size", "rms_norm_eps",
		"vocab_size", "num_key_value_heads", "head_dim", "rope_theta", "tie_word_embeddings",
		"max_position_embeddings", "norm_topk_prob"); err != nil {
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
	var kv, headDim, experts, step, moeInter int
	var mlpOnly []int
	var tie bool
	steps := []func() error{
		func() (err error) { kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { headDim, err = c.PosInt("head_dim"); return },
		func() (err error) { experts, err = c.ReqInt("num_experts"); return },
		func() (err error) { step, err = c.ReqInt("decoder_sparse_step"); return },
		func() (err error) { mlpOnly, err = c.IntList("mlp_only_layers"); return },
		func() (err error) { moeInter, err = c.PosInt("moe_intermediate_size"); return },
		func() (err error) { tie, err = c.BoolOr("tie_word_embeddings", false); return },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return nil, err
		}
	}
	if experts > 0 && step == 0 {
		return nil, c.Errf("decoder_sparse_step", "is 0")
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, false, false)
		b.Norm(p+".self_attn.q_norm", headDim)
		b.Norm(p+".self_attn.k_norm", headDim)
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
		if !slices.Contains(mlpOnly, l) && experts > 0 && (l+1)%step == 0 {
			b.Linear(p+".mlp.gate", d.Hidden, experts, false)
			b.SwitchGLU(p+".mlp.switch_mlp", d.Hidden, moeInter, experts)
		} else {
			b.MLP(p+".mlp", d.Hidden, d.Inter, false)
		}
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}
