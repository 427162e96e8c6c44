package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// Mixtral is mlx-lm's mixtral.
var Mixtral = &model.Family{
	Name:  "mixtral",
	Types: []string{"mixtral"},
	MLX: model.MLX{Build: buildMixtral, Rules: []model.SanitizeRule{
		model.TiedHead{},
		model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
			Names: [][2]string{{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}}, Parts: model.QuantParts, Optional: true},
			Layers: "model.layers.", Block: "block_sparse_moe", Count: "num_local_experts", CountDefault: 8, LayersDefault: 32, Gate: true},
	}},
	GGUF: &model.GGUF{
		Types: []string{"mixtral"}, Arch: "llama", Vocab: "llama", SetVocab: llamaVocab, TokenizerClass: "LlamaTokenizerFast", PermuteQK: true,
		Layer: model.WithLayer(map[string]string{
			"block_sparse_moe.gate":                 "ffn_gate_inp",
			"block_sparse_moe.switch_mlp.gate_proj": "ffn_gate_exps",
			"block_sparse_moe.switch_mlp.up_proj":   "ffn_up_exps",
			"block_sparse_moe.switch_mlp.down_proj": "ffn_down_exps",
		}),
		ExpertOrder: []string{"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps"}, Params: llamaParams, Extra: llamaExtra,
		Configs: map[string]*model.HFConfig{"mixtral": {Defaults: map[string]any{"max_position_embeddings": 131072, "num_key_value_heads": 8,
			"rope_theta": 1e6, "rms_norm_eps": 1e-5, "head_dim": nil, "sliding_window": nil, "num_local_experts": 8, "num_experts_per_tok": 2},
			KVHeads: model.KVHeadsNull}},
	},
}

func buildMixtral(c model.Config, _ model.Tensors) (*model.Tree, error) {
	var d model.Dims
	if err := model.IntsOr(c, model.IntDefault{Key: "vocab_size", Dst: &d.Vocab, Def: 32000},
		model.IntDefault{Key: "hidden_size", Dst: &d.Hidden, Def: 4096},
		model.IntDefault{Key: "intermediate_size", Dst: &d.Inter, Def: 14336},
		model.IntDefault{Key: "num_attention_heads", Dst: &d.Heads, Def: 32}); err != nil {
		return nil, err
	}
	if d.Heads == 0 {
		return nil, c.Errf("num_attention_heads", "is 0")
	}
	layers, err := c.IntOr("num_hidden_layers", 32)
	if err != nil {
		return nil, err
	}
	kv := 8
	if c.Present("num_key_value_heads") {
		if kv, err = c.IntOr("num_key_value_heads", d.Heads); err != nil { // null: the head count
			return nil, err
		}
	}
	experts, err := c.IntOr("num_local_experts", 8)
	if err != nil {
		return nil, err
	}
	tie, err := c.BoolOr("tie_word_embeddings", false)
	if err != nil {
		return nil, err
	}
	headDim := d.Hidden / d.Heads
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, false, false)
		b.Linear(p+".block_sparse_moe.gate", d.Hidden, experts, false)
		b.SwitchGLU(p+".block_sparse_moe.switch_mlp", d.Hidden, d.Inter, experts)
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}
