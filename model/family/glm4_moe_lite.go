package family

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Glm4MoELite is mlx-lm's glm4_moe_lite (GLM-4.7-Flash): deepseek_v3's
// multi-head latent attention (kv_b_proj split into the embed_q /
// unembed_out MultiLinears) with routed experts from first_k_dense_replace
// on, a shared expert, the MoE gate's e_score_correction_bias kept in its
// dtype, and the MTP layers past num_hidden_layers dropped. No
// quant_predicate.
var Glm4MoELite = &model.Family{
	Name:  "glm4_moe_lite",
	Types: []string{"glm4_moe_lite"},
	MLX: model.MLX{Build: buildGlm4MoELite, Sanitize: sanitizeGlm4MoELite,
		KeepDType: func(name string) bool { return strings.Contains(name, "e_score_correction_bias") }},
	// Glm4MoeLiteModel: DeepseekV2Model's MLA export (deepseek_v3's rules)
	// with GLM's vocabulary and the next-n layers kept (blk.N.nextn.*).
	// transformers 4.57 has no config class for it: the converter reads
	// config.json as is (rms_norm_eps defaulting to 1e-6).
	GGUF: &model.GGUF{
		Types: []string{"glm4_moe_lite"}, Arch: "deepseek2", Vocab: "glm4moelite", SetVocab: glmVocab,
		Layer: withNextN(DeepseekV3.GGUF.Layer), ExpertOrder: qwenMoEOrder, Params: glm4MoELiteParams,
		MLX:     &model.MLX{Build: buildGlm4MoELiteGGUF, Sanitize: sanitizeGlm4MoELiteGGUF},
		Configs: map[string]*model.HFConfig{"glm4_moe_lite": {Defaults: map[string]any{"rms_norm_eps": 1e-6}}},
	},
}

// withNextN is layer with the next-n (MTP) layer's own modules added.
func withNextN(layer map[string]string) map[string]string {
	out := make(map[string]string, len(layer)+6)
	for k, v := range layer {
		out[k] = v
	}
	for _, k := range []string{"eh_proj", "embed_tokens", "enorm", "hnorm", "shared_head.head", "shared_head.norm"} {
		out[k] = glmMoELayer[k]
	}
	return out
}

// glm4MoELiteParams is Glm4MoeLiteModel.set_gguf_parameters:
// DeepseekV2Model's, the next-n layers counted as blocks where the input
// has them, and their count.
func glm4MoELiteParams(m *model.Meta) error {
	nextn, err := nextnLayers(m)
	if err != nil {
		return err
	}
	return model.Steps(
		func() error { return deepseekV3Params(m) },
		func() error { return m.U32("block_count", m.BlockCount+nextn) },
		func() error { return nextnKV(m, nextn) },
	)
}

// glm4LiteArgs are ModelArgs' tree fields: deepseek_v3's, plus whether the
// Optional n_routed_experts / n_shared_experts are set (None: no MoE, no
// shared expert).
type glm4LiteArgs struct {
	deepseekV3Args
	moe, sharedMLP bool
}

func readGlm4MoELite(c model.Config) (a glm4LiteArgs, err error) {
	if err = glm4LiteLayerTypes(c); err != nil {
		return a, err
	}
	err = model.IntsOr(c, model.IntDefault{Key: "vocab_size", Dst: &a.Vocab, Def: 154880},
		model.IntDefault{Key: "hidden_size", Dst: &a.Hidden, Def: 2048},
		model.IntDefault{Key: "intermediate_size", Dst: &a.Inter, Def: 10240},
		model.IntDefault{Key: "moe_intermediate_size", Dst: &a.moeInter, Def: 1536},
		model.IntDefault{Key: "num_hidden_layers", Dst: &a.layers, Def: 47},
		model.IntDefault{Key: "num_attention_heads", Dst: &a.Heads, Def: 20},
		model.IntDefault{Key: "kv_lora_rank", Dst: &a.kvLora, Def: 512},
		model.IntDefault{Key: "qk_rope_head_dim", Dst: &a.ropeDim, Def: 64},
		model.IntDefault{Key: "v_head_dim", Dst: &a.vDim, Def: 256},
		model.IntDefault{Key: "qk_nope_head_dim", Dst: &a.nopeDim, Def: 192},
		model.IntDefault{Key: "moe_layer_freq", Dst: &a.moeFreq, Def: 1},
		model.IntDefault{Key: "first_k_dense_replace", Dst: &a.firstDense, Def: 1})
	if err != nil {
		return a, err
	}
	a.moe = !c.Present("n_routed_experts") || c.Has("n_routed_experts")
	a.sharedMLP = !c.Present("n_shared_experts") || c.Has("n_shared_experts")
	err = model.Steps(
		func() (err error) { a.qLora, err = optIntOr(c, "q_lora_rank", 768); return },
		func() (err error) { a.routed, err = optIntOr(c, "n_routed_experts", 64); return },
		func() (err error) { a.shared, err = optIntOr(c, "n_shared_experts", 1); return },
		func() (err error) { a.bias, err = c.BoolOr("attention_bias", false); return },
	)
	switch {
	case err != nil:
	case a.Heads <= 0:
		err = c.Errf("num_attention_heads", "is %d", a.Heads)
	case a.layers > model.MaxLayers:
		err = c.Errf("num_hidden_layers", "is %d", a.layers)
	case a.moe && a.moeFreq <= 0:
		err = c.Errf("moe_layer_freq", "is %d", a.moeFreq)
	}
	return a, err
}

// sparse is Glm4MoeLiteDecoderLayer's use_moe.
func (a *glm4LiteArgs) sparse(l int) bool {
	return a.moe && l >= a.firstDense && l%a.moeFreq == 0
}

// glm4LiteLayerTypes reads a transformers 5 config, which gives the dense
// and sparse layers as mlp_layer_types instead of first_k_dense_replace
// (mlx-lm 0.32.2 reads only the latter, default 1): leading "dense" layers
// then "sparse" ones set first_k_dense_replace when it differs from the
// default, so that the written config.json loads in mlx-lm; any other
// pattern is refused.
func glm4LiteLayerTypes(c model.Config) error {
	if c.Present("first_k_dense_replace") || !c.Has("mlp_layer_types") {
		return nil
	}
	types, err := strList(c, "mlp_layer_types")
	if err != nil {
		return err
	}
	k := 0
	for k < len(types) && types[k] == "dense" {
		k++
	}
	freq, err := c.IntOr("moe_layer_freq", 1)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(types[k:], func(t string) bool { return t != "sparse" }) || (freq != 1 && len(types)-k > 1) {
		return fmt.Errorf("%w: config.json \"mlp_layer_types\" %v is not dense layers then sparse ones, the only layout mlx-lm's glm4_moe_lite builds",
			model.ErrUnsupported, types)
	}
	if k != 1 {
		c.Obj().Set("first_k_dense_replace", pyjson.Int(int64(k)))
	}
	return nil
}

func buildGlm4MoELite(c model.Config, ts model.Tensors) (*model.Tree, error) {
	a, err := readGlm4MoELite(c)
	if err != nil {
		return nil, err
	}
	return a.tree(ts, 0), nil
}

// buildGlm4MoELiteGGUF is the converter's tree: mlx-lm's with the next-n
// layers the checkpoint has.
func buildGlm4MoELiteGGUF(c model.Config, ts model.Tensors) (*model.Tree, error) {
	a, err := readGlm4MoELite(c)
	if err != nil {
		return nil, err
	}
	nextn, err := nextnTreeLayers(c, ts, a.layers)
	if err != nil {
		return nil, err
	}
	return a.tree(ts, nextn), nil
}

// tree is the parameter tree with nextn next-n layers after the decoder
// layers.
func (a *glm4LiteArgs) tree(ts model.Tensors, nextn int) *model.Tree {
	var b model.Builder
	b.Embedding("model.embed_tokens", a.Vocab, a.Hidden)
	for l := 0; l < a.layers+nextn; l++ {
		p := "model.layers." + strconv.Itoa(l)
		if l >= a.layers {
			nextnModules(&b, ts, p, a.Hidden, a.Vocab)
		}
		a.attention(&b, p+".self_attn")
		if a.sparse(l) {
			b.SwitchGLU(p+".mlp.switch_mlp", a.Hidden, a.moeInter, a.routed)
			b.Params(p+".mlp.gate", model.Param{Name: "weight", Shape: []int{a.routed, a.Hidden}},
				model.Param{Name: "e_score_correction_bias", Shape: []int{a.routed}})
			if a.sharedMLP {
				deepseekMLP(&b, p+".mlp.shared_experts", a.Hidden, a.moeInter*a.shared)
			}
		} else {
			deepseekMLP(&b, p+".mlp", a.Hidden, a.Inter)
		}
		b.Norm(p+".input_layernorm", a.Hidden)
		b.Norm(p+".post_attention_layernorm", a.Hidden)
	}
	b.Norm("model.norm", a.Hidden)
	b.Linear("lm_head", a.Hidden, a.Vocab, false)
	return b.Tree(a.layers + nextn)
}

// sanitizeGlm4MoELite drops the MTP layers (any "X.layers.N.…" with N ≥
// num_hidden_layers), then per layer stacks the experts (each projection
// and part whose expert 0 is present) and splits kv_b_proj.
func sanitizeGlm4MoELite(_ *model.Tree, c model.Config, ts model.Tensors) error {
	a, err := readGlm4MoELite(c)
	if err != nil {
		return err
	}
	return a.sanitize(ts)
}

// sanitizeGlm4MoELiteGGUF is sanitizeGlm4MoELite keeping the next-n
// layers the checkpoint has (as decoder layers).
func sanitizeGlm4MoELiteGGUF(_ *model.Tree, c model.Config, ts model.Tensors) error {
	a, err := readGlm4MoELite(c)
	if err != nil {
		return err
	}
	nextn, err := nextnTreeLayers(c, ts, a.layers)
	if err != nil {
		return err
	}
	a.layers += nextn
	return a.sanitize(ts)
}

// sanitize drops the layers from a.layers on, stacks the experts and
// splits kv_b_proj of the others.
func (a *glm4LiteArgs) sanitize(ts model.Tensors) error {
	for _, n := range ts.Names() {
		parts := strings.Split(n, ".")
		if len(parts) < 3 || parts[1] != "layers" {
			continue
		}
		l, err := strconv.Atoi(parts[2])
		if err != nil {
			return fmt.Errorf("%w: tensor %q: layer index %q is not a number", model.ErrWeights, n, parts[2])
		}
		if l >= a.layers {
			ts.Pop(n)
		}
	}
	if err := model.CheckExperts(a.routed, a.layers, ts); err != nil {
		return err
	}
	for l := 0; l < a.layers; l++ {
		if err := a.sanitizeLayer(ts, "model.layers."+strconv.Itoa(l)); err != nil {
			return err
		}
	}
	return nil
}
