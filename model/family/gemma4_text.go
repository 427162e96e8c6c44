package family

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Gemma4Text is mlx-lm's gemma4_text: sliding and full attention layers
// (full ones with global_head_dim and, with attention_k_eq_v, K as V),
// KV-shared trailing layers without k/v projections (double-wide MLPs),
// optional per-layer inputs, optional MoE block beside the MLP (fused
// expert tensors split into a SwitchGLU, 8-bit router.proj).
var Gemma4Text = &model.Family{
	Name:  "gemma4_text",
	Types: []string{"gemma4_text"},
	MLX: model.MLX{
		Build:    func(c model.Config, _ model.Tensors) (*model.Tree, error) { return buildGemma4Text(c, "") },
		Rules:    gemma4TextRules,
		Sanitize: func(_ *model.Tree, c model.Config, ts model.Tensors) error { return sanitizeGemma4Text(c, ts) },
		Pred:     model.RouterPred("router.proj"),
	},
	GGUF: gemma4GGUF("gemma4_text"),
}

var gemma4TextRules = []model.SanitizeRule{model.Drop{model.Contains("self_attn.rotary_emb"), model.Contains("input_max"),
	model.Contains("input_min"), model.Contains("output_max"), model.Contains("output_min")}}

// gemma4Args are ModelArgs' fields the tree depends on.
type gemma4Args struct {
	d                                     model.Dims
	layers, headDim, globalHeadDim, kv    int
	globalKV, kvShared, perLayer, vocabPL int
	experts, moeInter                     int
	kEqV, doubleWide, moe, tie            bool
	layerTypes                            []string
}

// optInt is an int field with a default whose null is Python's None (0).
func optInt(c model.Config, key string, def int) (int, error) {
	if c.Present(key) && !c.Has(key) {
		return 0, nil
	}
	return c.IntOr(key, def)
}

func readGemma4Text(c model.Config) (a gemma4Args, err error) {
	if err = gemma4PerLayerConfig(c); err != nil {
		return a, err
	}
	err = model.Steps(
		func() error {
			return model.IntsOr(c, model.IntDefault{Key: "hidden_size", Dst: &a.d.Hidden, Def: 1536},
				model.IntDefault{Key: "num_hidden_layers", Dst: &a.layers, Def: 35},
				model.IntDefault{Key: "intermediate_size", Dst: &a.d.Inter, Def: 6144},
				model.IntDefault{Key: "num_attention_heads", Dst: &a.d.Heads, Def: 8},
				model.IntDefault{Key: "head_dim", Dst: &a.headDim, Def: 256},
				model.IntDefault{Key: "vocab_size", Dst: &a.d.Vocab, Def: 262144},
				model.IntDefault{Key: "vocab_size_per_layer_input", Dst: &a.vocabPL, Def: 262144},
				model.IntDefault{Key: "num_key_value_heads", Dst: &a.kv, Def: 1},
				model.IntDefault{Key: "num_kv_shared_layers", Dst: &a.kvShared, Def: 20})
		},
		func() (err error) { a.globalHeadDim, err = optInt(c, "global_head_dim", 512); return },
		func() (err error) { a.globalKV, err = optInt(c, "num_global_key_value_heads", 0); return },
		func() (err error) { a.perLayer, err = optInt(c, "hidden_size_per_layer_input", 256); return },
		func() (err error) { a.kEqV, err = c.BoolOr("attention_k_eq_v", false); return },
		func() (err error) { a.doubleWide, err = c.BoolOr("use_double_wide_mlp", true); return },
		func() (err error) { a.moe, err = c.BoolOr("enable_moe_block", false); return },
		func() (err error) { a.tie, err = c.BoolOr("tie_word_embeddings", true); return },
		func() (err error) { a.layerTypes, err = gemma4LayerTypes(c, a.layers); return },
	)
	if err == nil && a.moe {
		err = model.Steps(
			func() (err error) { a.experts, err = c.PosInt("num_experts"); return },
			func() (err error) { a.moeInter, err = c.PosInt("moe_intermediate_size"); return },
		)
	}
	if err == nil {
		err = checkGemma4Shared(c, a)
	}
	return a, err
}

// gemma4LayerTypes is layer_types, or ModelArgs' pattern of
// sliding_window_pattern - 1 sliding layers and one full layer.
func gemma4LayerTypes(c model.Config, layers int) ([]string, error) {
	if c.Has("layer_types") {
		return layerStrings(c, "layer_types", layers)
	}
	p, err := c.IntOr("sliding_window_pattern", 5)
	if err != nil {
		return nil, err
	}
	pattern := append(slices.Repeat([]string{slidingAttention}, max(p-1, 0)), fullAttention)
	return slices.Repeat(pattern, layers/len(pattern)+1)[:layers], nil
}

// checkGemma4Shared mirrors Gemma4TextModel's previous_kvs: every KV-shared
// layer's type has an earlier layer that owns a cache.
func checkGemma4Shared(c model.Config, a gemma4Args) error {
	if a.kvShared <= 0 {
		return nil
	}
	first := a.layers - a.kvShared
	for _, lt := range a.layerTypes[max(first, 0):a.layers] {
		if first <= 0 || !slices.Contains(a.layerTypes[:first], lt) {
			return c.Errf("num_kv_shared_layers", "is %d: no earlier %q layer owns a cache for the shared ones", a.kvShared, lt)
		}
	}
	return nil
}

// gemma4PerLayerConfig reads a transformers >= 5.23 text config, which
// keeps global_head_dim and num_global_key_value_heads as per_layer_config
// overrides of the full-attention layers: the keys are set back (beyond
// mlx-lm 0.32.2, which defaults global_head_dim to 512 there) so that the
// written config.json loads in mlx-lm too.
func gemma4PerLayerConfig(c model.Config) error {
	plc := c.Object("per_layer_config")
	if plc == nil || c.Present("global_head_dim") {
		return nil
	}
	for _, k := range plc.Keys() {
		o, _ := plc.Get(k)
		ov, ok := o.(*pyjson.Object)
		if !ok {
			return c.Errf("per_layer_config", "entry %q is not an object", k)
		}
		for _, ft := range [][2]string{{"head_dim", "global_head_dim"}, {"num_key_value_heads", "num_global_key_value_heads"}} {
			from, to := ft[0], ft[1]
			v, ok := ov.Get(from)
			if !ok {
				continue
			}
			if old, seen := c.Obj().Get(to); seen && fmt.Sprint(old) != fmt.Sprint(v) {
				return c.Errf("per_layer_config", "gives full-attention layers different %q values", from)
			}
			c.Obj().Set(to, v)
		}
	}
	return nil
}

func buildGemma4Text(c model.Config, prefix string) (*model.Tree, error) {
	a, err := readGemma4Text(c)
	if err != nil {
		return nil, err
	}
	h := a.d.Hidden
	var b model.Builder
	b.Embedding(prefix+"model.embed_tokens", a.d.Vocab, h)
	for l := 0; l < a.layers; l++ {
		gemma4Layer(&b, prefix+"model.layers."+strconv.Itoa(l), a, l)
	}
	b.Norm(prefix+"model.norm", h)
	if a.perLayer != 0 {
		b.Embedding(prefix+"model.embed_tokens_per_layer", a.vocabPL, a.layers*a.perLayer)
		b.Linear(prefix+"model.per_layer_model_projection", h, a.layers*a.perLayer, false)
		b.Norm(prefix+"model.per_layer_projection_norm", a.perLayer)
	}
	if !a.tie {
		b.Linear(prefix+"lm_head", h, a.d.Vocab, false)
	}
	return b.Tree(a.layers), nil
}

func gemma4Layer(b *model.Builder, p string, a gemma4Args, l int) {
	h := a.d.Hidden
	first := a.layers - a.kvShared
	gemma4Attention(b, p+".self_attn", a, l, l < first)
	inter := a.d.Inter
	if a.doubleWide && l >= first && first > 0 {
		inter *= 2
	}
	b.MLP(p+".mlp", h, inter, false)
	for _, n := range []string{"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"} {
		b.Norm(p+"."+n, h)
	}
	if a.moe {
		b.Linear(p+".router.proj", h, a.experts, false)
		b.BlockParams(p+".router", model.Param{Name: "scale", Shape: []int{h}}, model.Param{Name: "per_expert_scale", Shape: []int{a.experts}})
		b.SwitchGLU(p+".experts.switch_glu", h, a.moeInter, a.experts)
		for _, n := range []string{"post_feedforward_layernorm_1", "post_feedforward_layernorm_2", "pre_feedforward_layernorm_2"} {
			b.Norm(p+"."+n, h)
		}
	}
	if a.perLayer != 0 {
		b.Linear(p+".per_layer_input_gate", h, a.perLayer, false)
		b.Linear(p+".per_layer_projection", a.perLayer, h, false)
		b.Norm(p+".post_per_layer_input_norm", h)
	}
	b.BlockParams(p, model.Param{Name: "layer_scalar", Shape: []int{1}})
}

// gemma4Attention is Attention: global_head_dim and, with
// attention_k_eq_v, num_global_key_value_heads and no v_proj on the full
// layers; no k/v projections on KV-shared layers.
func gemma4Attention(b *model.Builder, p string, a gemma4Args, l int, hasKV bool) {
	h := a.d.Hidden
	sliding := a.layerTypes[l] == slidingAttention
	hd := a.headDim
	if a.layerTypes[l] == fullAttention && a.globalHeadDim != 0 {
		hd = a.globalHeadDim
	}
	kEqV := a.kEqV && !sliding
	kv := a.kv
	if kEqV && a.globalKV != 0 {
		kv = a.globalKV
	}
	b.Linear(p+".q_proj", h, a.d.Heads*hd, false)
	if hasKV {
		b.Linear(p+".k_proj", h, kv*hd, false)
		if !kEqV {
			b.Linear(p+".v_proj", h, kv*hd, false)
		}
	}
	b.Linear(p+".o_proj", a.d.Heads*hd, h, false)
	b.Norm(p+".q_norm", hd)
	if hasKV {
		b.Norm(p+".k_norm", hd)
	}
}

// sanitizeGemma4Text is the rest of Model.sanitize after the drops: the
// KV-shared layers' k_proj / v_proj / k_norm dropped (layer index after
// the first "layers."), fused experts split (gate_up_proj along axis -2)
// and renamed into the SwitchGLU.
func sanitizeGemma4Text(c model.Config, ts model.Tensors) error {
	layers, err := c.IntOr("num_hidden_layers", 35)
	if err != nil {
		return err
	}
	shared, err := c.IntOr("num_kv_shared_layers", 20)
	if err != nil {
		return err
	}
	first := layers - shared
	ts.Filter(func(n string) bool {
		if !strings.Contains(n, ".self_attn.k_proj") && !strings.Contains(n, ".self_attn.v_proj") && !strings.Contains(n, ".self_attn.k_norm") {
			return true
		}
		_, after, ok := strings.Cut(n, "layers.")
		idx, _, _ := strings.Cut(after, ".")
		l, err := strconv.Atoi(idx)
		return !ok || err != nil || l < first
	})
	for _, n := range ts.Names() {
		if base, ok := strings.CutSuffix(n, ".experts.gate_up_proj"); ok {
			shape, _ := ts.Shape(n)
			err = ts.Split(n, len(shape)-2, []string{base + ".experts.switch_glu.gate_proj.weight", base + ".experts.switch_glu.up_proj.weight"})
		} else if base, ok := strings.CutSuffix(n, ".experts.down_proj"); ok {
			err = ts.Rename(n, base+".experts.switch_glu.down_proj.weight")
		}
		if err != nil {
			return err
		}
	}
	return nil
}
