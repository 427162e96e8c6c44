package family

import (
	"fmt"
	"strconv"

	"github.com/mlxconv/mlxconv/model"
)

// Llama4 is mlx-lm's llama4, the text model of the multimodal checkpoint:
// vision tower and projector dropped, the language model under
// "language_model."; MoE layers every interleave_moe_layer_step with fused
// gate_up_proj / down_proj expert tensors split and transposed into a
// SwitchGLU, a router and a shared expert.
var Llama4 = &model.Family{
	Name:  "llama4",
	Types: []string{"llama4"},
	MLX: model.MLX{LegacyRope: true, Build: buildLlama4, Sanitize: sanitizeLlama4, Rules: []model.SanitizeRule{
		model.Drop{model.Contains("vision_model"), model.Contains("multi_modal_projector")},
	}},
}

// llama4Dims are the text model's sizes besides model.Dims.
type llama4Dims struct {
	kv, headDim, step, interMLP, experts int
	bias                                 bool
}

func llama4TextConfig(c model.Config) (model.Config, error) {
	if err := model.NeedKeys(c, "text_config", "model_type"); err != nil {
		return model.Config{}, err
	}
	tc := c.Object("text_config")
	if tc == nil {
		return model.Config{}, c.Errf("text_config", "is not an object")
	}
	t := model.NewConfig(tc, "config.json text_config")
	return t, model.NeedKeysRope(t, "attention_bias", "attention_chunk_size", "head_dim", "hidden_size",
		"interleave_moe_layer_step", "intermediate_size", "intermediate_size_mlp", "max_position_embeddings", "model_type",
		"num_attention_heads", "num_experts_per_tok", "num_hidden_layers", "num_key_value_heads", "num_local_experts",
		"rms_norm_eps", "rope_scaling", "rope_theta", "use_qk_norm", "vocab_size")
}

func readLlama4(t model.Config, d model.Dims) (x llama4Dims, err error) {
	err = model.Steps(
		func() (err error) { x.kv, err = t.PosInt("num_key_value_heads"); return },
		func() (err error) { x.headDim, err = t.IntOr("head_dim", 0); return },
		func() (err error) { x.step, err = t.PosInt("interleave_moe_layer_step"); return },
		func() (err error) { x.interMLP, err = t.IntOr("intermediate_size_mlp", 0); return },
		func() (err error) { x.experts, err = t.ReqInt("num_local_experts"); return },
		func() (err error) { x.bias, err = t.BoolOr("attention_bias", false); return },
	)
	if x.headDim == 0 {
		x.headDim = d.Hidden / d.Heads // head_dim or hidden_size // n_heads
	}
	if x.interMLP == 0 {
		x.interMLP = d.Inter // intermediate_size or args.intermediate_size
	}
	return x, err
}

func buildLlama4(c model.Config, _ model.Tensors) (*model.Tree, error) {
	t, err := llama4TextConfig(c)
	if err != nil {
		return nil, err
	}
	d, err := model.ReadDims(t)
	if err != nil {
		return nil, err
	}
	layers, err := model.LayerCount(t)
	if err != nil {
		return nil, err
	}
	x, err := readLlama4(t, d)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("language_model.model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		p := "language_model.model.layers." + strconv.Itoa(l)
		b.Attention(p+".self_attn", d.Hidden, d.Heads, x.kv, x.headDim, x.bias, x.bias)
		if l%x.step == x.step-1 {
			b.SwitchGLU(p+".feed_forward.experts", d.Hidden, d.Inter, x.experts)
			b.Linear(p+".feed_forward.router", d.Hidden, x.experts, false)
			b.MLP(p+".feed_forward.shared_expert", d.Hidden, d.Inter, false)
		} else {
			b.MLP(p+".feed_forward", d.Hidden, x.interMLP, false)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("language_model.model.norm", d.Hidden)
	b.Linear("language_model.lm_head", d.Hidden, d.Vocab, false)
	return b.Tree(layers), nil
}

func sanitizeLlama4(_ *model.Tree, c model.Config, ts model.Tensors) error {
	tc := c.Object("text_config")
	layers, _ := model.NewConfig(tc, "").IntOr("num_hidden_layers", 0)
	if err := model.CheckExperts(0, layers, ts); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := "language_model.model.layers." + strconv.Itoa(l) + ".feed_forward.experts"
		if err := llama4Experts(ts, p); err != nil {
			return err
		}
	}
	return nil
}

// llama4Experts rewrites one layer's fused expert tensors: gate_up_proj
// [E, hidden, 2·inter] split along the last axis, each half and down_proj
// [E, inter, hidden] with axes 1 and 2 swapped.
func llama4Experts(ts model.Tensors, p string) error {
	if shape, ok := ts.Shape(p + ".gate_up_proj"); ok {
		views, err := model.SplitViews(shape, -1, 2)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", p+".gate_up_proj", err)
		}
		for i, name := range []string{".gate_proj.weight", ".up_proj.weight"} {
			views[i].Swap12 = true
			if err := ts.View(p+name, p+".gate_up_proj", views[i]); err != nil {
				return err
			}
		}
		ts.Pop(p + ".gate_up_proj")
	}
	if shape, ok := ts.Shape(p + ".down_proj"); ok && len(shape) > 0 {
		if err := ts.View(p+".down_proj.weight", p+".down_proj", model.View{Axis: 0, Stop: shape[0], Swap12: true}); err != nil {
			return err
		}
		ts.Pop(p + ".down_proj")
	}
	return nil
}
