package family

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// Hunyuan is mlx-lm's hunyuan (Hunyuan-A13B, model_type "hunyuan"): q/k
// layer norms, optional cross-layer KV sharing (no k/v projections in the
// layers that reuse them), shared MLP, router gate.wg, no lm_head (the
// embedding is the head); a fused qkv_proj / gate_and_up_proj checkpoint
// is split first.
//
// On the GGUF side it is llama.cpp's HunYuanMoEModel (hunyuan-moe): the
// experts stacked, a shared expert, the NTK-alpha rope of
// hunyuanAlphaRope. The converter reads the vocabulary only from the
// remote-code tiktoken tokenizer (mergeable_ranks) that Hunyuan-A13B
// ships; mlxconv reads a tokenizer.json instead (GPT-2 BPE, as the
// converter then writes it) and refuses a model without one.
var Hunyuan = &model.Family{
	Name:  "hunyuan",
	Types: []string{"hunyuan"},
	MLX:   model.MLX{Build: buildHunyuan, Sanitize: sanitizeHunyuan},
	GGUF: &model.GGUF{
		Types: []string{"hunyuan"}, Arch: "hunyuan-moe", Vocab: "hunyuan-moe", SetVocab: hunyuanVocab,
		Layer: model.WithLayer(map[string]string{
			"self_attn.query_layernorm": "attn_q_norm",
			"self_attn.key_layernorm":   "attn_k_norm",
			"mlp.gate.wg":               "ffn_gate_inp",
			"mlp.shared_mlp.gate_proj":  "ffn_gate_shexp",
			"mlp.shared_mlp.up_proj":    "ffn_up_shexp",
			"mlp.shared_mlp.down_proj":  "ffn_down_shexp",
			"mlp.switch_mlp.gate_proj":  "ffn_gate_exps",
			"mlp.switch_mlp.up_proj":    "ffn_up_exps",
			"mlp.switch_mlp.down_proj":  "ffn_down_exps",
		}),
		ExpertOrder: []string{"ffn_down_exps", "ffn_gate_exps", "ffn_up_exps"},
		Params:      hunyuanParams,
	},
}

// hunyuanParams is HunYuanMoEModel.set_gguf_parameters: TextModel's, the
// shared and routed expert sizes, top-k and shared count from the
// per-layer lists (all equal), and for a dynamic rope the NTK-alpha base
// (alpha 1000, head dim hidden_size / num_attention_heads, which the
// converter requires to be 128).
func hunyuanParams(m *model.Meta) error {
	if err := model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.ReqU32("expert_shared_feed_forward_length", "intermediate_size") },
		func() error { return hunyuanListParam(m, "expert_feed_forward_length", "moe_intermediate_size") },
		func() error { return hunyuanListParam(m, "expert_used_count", "moe_topk") },
		func() error { return hunyuanListParam(m, "expert_shared_count", "num_shared_expert") },
	); err != nil {
		return err
	}
	t, err := m.Rope.RopeType()
	if err != nil || t != "dynamic" {
		return err
	}
	hidden, err := m.H.ReqU32("hidden_size")
	if err != nil {
		return err
	}
	heads, err := m.H.ReqU32("num_attention_heads")
	if err != nil || heads == 0 {
		return cmp.Or(err, fmt.Errorf("%w: num_attention_heads is 0", model.ErrExport))
	}
	return hunyuanAlphaRope(m, hidden/heads, 1000, func(alpha, _ float64) bool { return alpha == 1000 && hidden/heads == 128 })
}

// hunyuanListParam writes the first value of the per-layer list key, whose
// values must all be equal (the converter asserts it).
func hunyuanListParam(m *model.Meta, suffix, key string) error {
	list, ok := m.H.Raw(key).([]pyjson.Value)
	if !ok || len(list) == 0 {
		return fmt.Errorf("%w: %s is %s, want a per-layer list", model.ErrExport, key, model.Describe(m.H.Raw(key)))
	}
	first, ok := model.HPInt(list[0])
	for _, v := range list {
		if n, isInt := model.HPInt(v); !ok || !isInt || n != first {
			return fmt.Errorf("%w: %s has unequal or non-integer values; the converter writes one", model.ErrExport, key)
		}
	}
	return m.U32(suffix, first)
}

// hunyuanVocab reads tokenizer.json as GPT-2 BPE, then bos 127959
// (<|bos|>), as HunYuanMoEModel.set_vocab overwrites it.
func hunyuanVocab(l model.VocabLoader) error {
	if err := l.BPE(); err != nil {
		return l.Errorf("%v (Hunyuan-A13B's own tokenizer is remote code over hy.tiktoken, which mlxconv does not read: a tokenizer.json is needed)", err)
	}
	return l.SetTokenID("bos", 127959)
}

// hunyuanArgs are the fields of hunyuan's ModelArgs the tree depends on.
type hunyuanArgs struct {
	kv, experts, claFactor    int
	bias, qkNorm, cla, shared bool
}

func readHunyuan(c model.Config) (a hunyuanArgs, err error) {
	err = model.Steps(
		func() (err error) { a.kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { a.experts, err = c.ReqInt("num_experts"); return },
		func() (err error) { a.bias, err = c.BoolOr("attention_bias", false); return },
		func() (err error) { a.shared, err = c.BoolOr("use_mixed_mlp_moe", false); return },
		func() (err error) { a.qkNorm, err = c.BoolOr("use_qk_norm", false); return },
		func() (err error) { a.cla, err = c.BoolOr("use_cla", false); return },
		func() (err error) { a.claFactor, err = c.IntOr("cla_share_factor", 0); return },
		func() error { return hunyuanRope(c) },
	)
	if err == nil && a.cla && a.claFactor == 0 {
		err = c.Errf("cla_share_factor", "is 0")
	}
	return a, err
}

// hunyuanRope: the attention reads rope_scaling["alpha"] (rope_parameters
// in a transformers-5 config), and a rope_scaling must hold factor and type.
func hunyuanRope(c model.Config) error {
	keys := []string{"factor", "type", "alpha"}
	rs := c.Object("rope_scaling")
	if rs == nil {
		keys, rs = keys[2:], c.Object("rope_parameters")
	}
	if rs == nil {
		return c.Errf("rope_scaling", "is missing; the model reads its \"alpha\"")
	}
	for _, k := range keys {
		if _, ok := rs.Get(k); !ok {
			return c.Errf("rope_scaling", "has no %q", k)
		}
	}
	return nil
}

// perLayer reads an int-or-list field for layer l (def when absent or null).
func perLayer(c model.Config, key string, l, def int) (int, error) {
	return intOrList(c, key, def, func(v []int) int {
		if l < len(v) {
			return v[l]
		}
		return def
	})
}

func buildHunyuan(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeysRope(c, "model_type", "vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
		"num_attention_heads", "num_key_value_heads", "attention_bias", "moe_topk", "num_experts", "num_shared_expert",
		"use_mixed_mlp_moe", "use_qk_norm", "rms_norm_eps", "rope_theta", "use_cla", "cla_share_factor"); err != nil {
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
	a, err := readHunyuan(c)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers; l++ {
		if err := hunyuanLayer(&b, c, "model.layers."+strconv.Itoa(l), l, d, a); err != nil {
			return nil, err
		}
	}
	b.Norm("model.norm", d.Hidden)
	return b.Tree(layers), nil
}

func hunyuanLayer(b *model.Builder, c model.Config, p string, l int, d model.Dims, a hunyuanArgs) error {
	headDim := d.Hidden / d.Heads
	b.Linear(p+".self_attn.q_proj", d.Hidden, d.Heads*headDim, a.bias)
	if !a.cla || l%a.claFactor == 0 {
		b.Linear(p+".self_attn.k_proj", d.Hidden, a.kv*headDim, a.bias)
		b.Linear(p+".self_attn.v_proj", d.Hidden, a.kv*headDim, a.bias)
	}
	b.Linear(p+".self_attn.o_proj", d.Heads*headDim, d.Hidden, a.bias)
	if a.qkNorm {
		b.Norm(p+".self_attn.query_layernorm", headDim)
		b.Norm(p+".self_attn.key_layernorm", headDim)
	}
	if a.experts == 1 {
		b.MLP(p+".mlp", d.Hidden, d.Inter, false)
	} else {
		if a.shared {
			n, err := perLayer(c, "num_shared_expert", l, 0)
			if err != nil {
				return err
			}
			b.MLP(p+".mlp.shared_mlp", d.Hidden, d.Inter*n, false)
		}
		b.Linear(p+".mlp.gate.wg", d.Hidden, a.experts, false)
		inter, err := perLayer(c, "moe_intermediate_size", l, d.Inter)
		if err != nil {
			return err
		}
		b.SwitchGLU(p+".mlp.switch_mlp", d.Hidden, inter, a.experts)
	}
	b.Norm(p+".input_layernorm", d.Hidden)
	b.Norm(p+".post_attention_layernorm", d.Hidden)
	return nil
}

func sanitizeHunyuan(m *model.Tree, c model.Config, ts model.Tensors) error {
	if ts.Has("model.layers.0.mlp.gate_and_up_proj.weight") {
		if err := hunyuanUnfuse(m, c, ts); err != nil {
			return err
		}
	}
	return model.ApplyRules(hunyuanStack, m, c, ts)
}

var hunyuanStack = []model.SanitizeRule{
	model.StackExperts{Stack: qwenMoEExperts(model.QuantParts, true), Layers: "model.layers.", Block: "mlp", Count: "num_experts", Gate: true},
}

// hunyuanUnfuse splits every qkv_proj ([kv heads, groups+2, head_dim, …]
// into q, k, v) and gate_and_up_proj (halves along axis 0: up, then gate).
func hunyuanUnfuse(m *model.Tree, c model.Config, ts model.Tensors) error {
	hidden, _ := c.IntOr("hidden_size", 0)
	heads, _ := c.IntOr("num_attention_heads", 0)
	kv, _ := c.IntOr("num_key_value_heads", 0)
	if heads == 0 || kv == 0 || heads%kv != 0 || hidden%heads != 0 {
		return c.Errf("num_key_value_heads", "(%d) does not divide num_attention_heads (%d)", kv, heads)
	}
	groups, headDim := heads/kv, hidden/heads
	for _, n := range ts.Names() {
		if strings.Contains(n, "qkv_proj") {
			if err := unfuseQKV(ts, n, kv, groups, headDim); err != nil {
				return err
			}
		}
	}
	return model.ApplyRules([]model.SanitizeRule{model.Split{From: "gate_and_up_proj", Into: []string{"up_proj", "gate_proj"}}}, m, c, ts)
}

func unfuseQKV(ts model.Tensors, n string, kv, groups, headDim int) error {
	shape, _ := ts.Shape(n)
	total := 1
	for _, s := range shape {
		total *= s
	}
	rest := total / max(kv*(groups+2)*headDim, 1)
	view := []int{kv, groups + 2, headDim, rest}
	cuts := [][2]int{{0, groups}, {groups, groups + 1}, {groups + 1, groups + 2}}
	for i, part := range []string{"q_proj", "k_proj", "v_proj"} {
		k := cuts[i][1] - cuts[i][0]
		v := model.View{Shape: view, Axis: 1, Start: cuts[i][0], Stop: cuts[i][1], Out: []int{kv * k * headDim, rest}}
		if err := ts.View(strings.Replace(n, "qkv_proj", part, 1), n, v); err != nil {
			return err
		}
	}
	ts.Pop(n)
	return nil
}
