package family

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Ministral3 is mlx-lm's ministral3 (the text model of Mistral 3 and
// Ministral 3): llama's tree without biases, rope settings read from
// rope_parameters; sanitize as llama's, then FP8 scales.
var Ministral3 = &model.Family{
	Name:  ministral3Type,
	Types: []string{ministral3Type},
	MLX:   ministral3MLX(),
	GGUF:  mistral3GGUF(ministral3Type),
}

// ministral3Type is the family's model_type.
const ministral3Type = "ministral3"

var ministral3Dense = model.Dense{
	Required:   []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
	LayerTypes: true, HeadDim: model.HeadDimOptional, HeadDimFirst: true, TieDefault: true,
	Norms: model.TwoNorms, Check: checkMinistral3,
	Rules: []model.SanitizeRule{dropInvFreq, model.TiedHead{Default: true}, model.Drop{model.Contains("activation_scale")}},
}

// ministral3MLX is the dense model with the FP8 refusal as its hook.
func ministral3MLX() model.MLX {
	m := ministral3Dense.MLX()
	m.Sanitize = refuseFP8Scales
	return m
}

// checkMinistral3 is what LanguageModel's construction reads: a
// "full_attention" entry in layer_types (default: one a layer), and, when
// there is a layer, rope_parameters with the llama 4 scaling keys.
func checkMinistral3(c model.Config) error {
	layers, err := model.LayerCount(c)
	if err != nil {
		return err
	}
	if raw, ok := c.Value("layer_types"); ok {
		list, _ := raw.([]pyjson.Value)
		if !slices.ContainsFunc(list, func(v pyjson.Value) bool { return v == "full_attention" }) {
			return c.Errf("layer_types", "has no \"full_attention\" entry")
		}
		layers = len(list)
	} else if layers == 0 {
		return c.Errf("num_hidden_layers", "is 0 (no full_attention layer)")
	}
	if layers == 0 {
		return nil
	}
	rp := c.Object("rope_parameters")
	if rp == nil {
		return c.Errf("rope_parameters", "is missing or not an object")
	}
	for _, k := range []string{"llama_4_scaling_beta", "original_max_position_embeddings", "rope_theta"} {
		if _, ok := rp.Get(k); !ok {
			return c.Errf("rope_parameters", "has no %q", k)
		}
	}
	return nil
}

// refuseFP8Scales refuses FP8 weight scales: mlx-lm multiplies them into
// the weights, mlxconv does not dequantize FP8. (The activation scales
// are dropped by a rule.)
func refuseFP8Scales(_ *model.Tree, _ model.Config, ts model.Tensors) error {
	for _, n := range ts.Names() {
		if strings.Contains(n, "weight_scale_inv") {
			return fmt.Errorf("%w: %q is an FP8 weight scale; FP8 checkpoints are not supported", model.ErrWeights, n)
		}
	}
	return nil
}
