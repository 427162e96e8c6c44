package family

import (
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// LFM2MoE is mlx-lm's lfm2_moe: lfm2's layers with dense feed-forwards
// below num_dense_layers and routed experts (stacked from the per-expert
// w1/w2/w3) above, an optional expert_bias kept out of dtype casts, 8-bit
// routers.
var LFM2MoE = &model.Family{
	Name:  "lfm2_moe",
	Types: []string{"lfm2_moe"},
	MLX: model.MLX{Build: buildLFM2MoE, Pred: model.RouterPred("feed_forward.gate"),
		KeepDType: func(name string) bool { return strings.Contains(name, "expert_bias") },
		Rules: []model.SanitizeRule{
			lfm2Conv,
			model.Rename{From: "w1.weight", To: "gate_proj.weight"},
			model.Rename{From: "w2.weight", To: "down_proj.weight"},
			model.Rename{From: "w3.weight", To: "up_proj.weight"},
			model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
				Names: [][2]string{{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}},
				Parts: []string{"weight"}, Optional: true},
				Layers: "model.layers.", Block: "feed_forward", Count: "num_experts"},
		}},
	GGUF: &model.GGUF{
		Types: []string{"lfm2_moe"}, Arch: "lfm2moe", Vocab: "lfm2moe", SetVocab: model.VocabLoader.BPE, Params: lfm2MoEParams,
		Layer: model.WithLayer(lfm2MoELayer), Global: lfm2Global, Tensors: lfm2Tensors,
		ExpertOrder: []string{"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps"},
	},
}

// lfm2MoELayer is lfm2's map with the dense MLP under MLX's names (w1/w3/w2
// renamed by the sanitize) and the routed experts.
var lfm2MoELayer = func() map[string]string {
	m := map[string]string{
		"feed_forward.gate_proj": "ffn_gate", "feed_forward.up_proj": "ffn_up", "feed_forward.down_proj": "ffn_down",
		"feed_forward.gate": "ffn_gate_inp", "feed_forward.expert_bias": "exp_probs_b.bias",
		"feed_forward.switch_mlp.gate_proj": "ffn_gate_exps", "feed_forward.switch_mlp.up_proj": "ffn_up_exps",
		"feed_forward.switch_mlp.down_proj": "ffn_down_exps",
	}
	for k, v := range lfm2Layer {
		if !strings.HasPrefix(k, "feed_forward.") {
			m[k] = v
		}
	}
	return m
}()

// lfm2MoEParams is LFM2MoeModel.set_gguf_parameters: TextModel's with
// head_count_kv per layer (only "full_attention" layers have heads), the
// expert size, the leading dense layers, sigmoid gating, vocab_size and the
// short-conv cache length.
func lfm2MoEParams(m *model.Meta) error {
	if err := lfm2KV(m, func(t string) bool { return t == "full_attention" }); err != nil {
		return err
	}
	err := model.Steps(
		func() error { return m.ReqU32("expert_feed_forward_length", "moe_intermediate_size") },
		func() error { return m.ReqU32("leading_dense_block_count", "num_dense_layers") },
	)
	if err != nil {
		return err
	}
	m.Set(m.ArchKey("expert_gating_func"), gguf.NewValue[uint32](2)) // sigmoid
	return model.Steps(
		func() error { return m.ReqU32("vocab_size", "vocab_size") },
		func() error { return m.ReqU32("shortconv.l_cache", "conv_L_cache") },
	)
}

func buildLFM2MoE(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "intermediate_size", "moe_intermediate_size", "num_experts", "num_experts_per_tok",
		"norm_topk_prob", "use_expert_bias", "num_dense_layers"); err != nil {
		return nil, err
	}
	s, err := readLFM2(c)
	if err != nil {
		return nil, err
	}
	var inter, moeInter, experts int
	if err := posInts(c, posInt{"intermediate_size", &inter}, posInt{"moe_intermediate_size", &moeInter},
		posInt{"num_experts", &experts}); err != nil {
		return nil, err
	}
	dense, err := c.ReqInt("num_dense_layers")
	if err != nil {
		return nil, err
	}
	bias, err := c.BoolOr("use_expert_bias", false)
	if err != nil {
		return nil, err
	}
	h := s.hidden
	return s.build(func(b *model.Builder, p string, l int) {
		if l < dense {
			b.Linear(p+".gate_proj", h, inter, false)
			b.Linear(p+".up_proj", h, inter, false)
			b.Linear(p+".down_proj", inter, h, false)
			return
		}
		b.Linear(p+".gate", h, experts, false)
		b.SwitchGLU(p+".switch_mlp", h, moeInter, experts)
		if bias {
			b.BlockParams(p, model.Param{Name: "expert_bias", Shape: []int{experts}})
		}
	}), nil
}
