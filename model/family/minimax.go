package family

import (
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// MiniMax is mlx-lm's minimax (MiniMax-M2; minimax_m2 is remapped to it):
// q/k norms over all heads, experts in every layer, a sigmoid router whose
// e_score_correction_bias sits on the MoE block and keeps its dtype, 8-bit
// routers. Its sanitize first dequantizes block-scaled FP8 weights.
var MiniMax = &model.Family{
	Name:  "minimax",
	Types: []string{"minimax", "minimax_m2"},
	MLX: model.MLX{LegacyRope: true, Build: buildMiniMax, KeepDType: scoreBias, Pred: model.RouterPred("block_sparse_moe.gate"),
		Rules: []model.SanitizeRule{
			model.FP8Dequant{Block: 128},
			model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
				Names: [][2]string{{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}}, Parts: []string{"weight"}, Optional: true},
				Layers: "model.layers.", Block: "block_sparse_moe", Count: "num_local_experts", Gate: true},
		}},
	// MiniMaxM2Model (MiniMaxM2ForCausalLM; transformers 4.57 has no
	// config class for it: config.json is read as is).
	GGUF: &model.GGUF{
		Types: []string{"minimax_m2"}, Arch: "minimax-m2", Vocab: "minimax-m2", SetVocab: model.VocabLoader.BPE,
		Layer: model.WithLayer(map[string]string{
			"block_sparse_moe.gate":                    "ffn_gate_inp",
			"block_sparse_moe.e_score_correction_bias": "exp_probs_b.bias",
			"block_sparse_moe.switch_mlp.gate_proj":    "ffn_gate_exps",
			"block_sparse_moe.switch_mlp.down_proj":    "ffn_down_exps",
			"block_sparse_moe.switch_mlp.up_proj":      "ffn_up_exps",
		}),
		ExpertOrder: []string{"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps"}, Params: miniMaxParams,
	},
}

// miniMaxParams is MiniMaxM2Model.set_gguf_parameters: TextModel's, then
// intermediate_size as the expert size and rotary_dim as the rope
// dimension count.
func miniMaxParams(m *model.Meta) error {
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqU32("expert_feed_forward_length", "intermediate_size") },
		func() error { return m.ReqU32("rope.dimension_count", "rotary_dim") },
	)
}

func buildMiniMax(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeysRope(c, "model_type", "hidden_size", "intermediate_size", "num_attention_heads",
		"num_key_value_heads", "max_position_embeddings", "num_experts_per_tok", "num_local_experts",
		"shared_intermediate_size", "num_hidden_layers", "rms_norm_eps", "rope_theta", "rotary_dim", "vocab_size"); err != nil {
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
	var kv, experts, headDim int
	var qkNorm, tie bool
	err = model.Steps(
		func() (err error) { kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { experts, err = c.ReqInt("num_local_experts"); return },
		func() (err error) { headDim, err = c.IntOr("head_dim", 0); return },
		func() (err error) { qkNorm, err = c.BoolOr("use_qk_norm", true); return },
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
		if qkNorm {
			b.Norm(p+".self_attn.q_norm", headDim*d.Heads)
			b.Norm(p+".self_attn.k_norm", headDim*kv)
		}
		b.Linear(p+".block_sparse_moe.gate", d.Hidden, experts, false)
		b.SwitchGLU(p+".block_sparse_moe.switch_mlp", d.Hidden, d.Inter, experts)
		b.BlockParams(p+".block_sparse_moe", model.Param{Name: "e_score_correction_bias", Shape: []int{experts}})
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	if !tie {
		b.Linear("lm_head", d.Hidden, d.Vocab, false)
	}
	return b.Tree(layers), nil
}
