package family

import (
	"strings"

	"github.com/mlxconv/mlxconv/model"
)

// Qwen35MoE is mlx-lm's qwen3_5_moe: qwen3_5 whose checkpoint stores each
// layer's experts fused (transformers 5): experts.gate_up_proj [E, 2I, H]
// is cut in halves along axis 1 into switch_mlp.gate_proj and up_proj,
// experts.down_proj becomes switch_mlp.down_proj.
var Qwen35MoE = &model.Family{
	Name:  "qwen3_5_moe",
	Types: []string{"qwen3_5_moe"},
	MLX: model.MLX{Build: buildQwen35, Pred: qwen3NextPred,
		KeepDType: func(name string) bool { return strings.HasSuffix(name, "A_log") },
		Rules: qwen35Rules([]model.SanitizeRule{
			model.Split{From: ".mlp.experts.gate_up_proj", Into: []string{".mlp.switch_mlp.gate_proj.weight", ".mlp.switch_mlp.up_proj.weight"}, Axis: -2},
			model.Rename{From: ".mlp.experts.down_proj", To: ".mlp.switch_mlp.down_proj.weight"},
		})},
	GGUF: qwen35GGUF("qwen3_5_moe", "qwen35moe", qwenMoELayer),
}
