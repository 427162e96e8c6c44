package family

import (
	"strings"

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
