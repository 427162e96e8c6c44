package family

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// DeepseekV3 is mlx-lm's deepseek_v3 (multi-head latent attention, routed
// plus shared experts), also the model of kimi_k2 and joyai_llm_flash
// (MODEL_REMAPPING). Its sanitize dequantizes FP8 block-scaled checkpoints
// (weight_scale_inv) to bfloat16 and remaps compressed-tensors int4.
var DeepseekV3 = &model.Family{
	Name:  "deepseek_v3",
	Types: []string{"deepseek_v3", "kimi_k2", "joyai_llm_flash"},
	MLX: model.MLX{LegacyRope: true, Build: buildDeepseekV3, Rules: []model.SanitizeRule{model.FP8Dequant{Block: 128}},
		Sanitize: sanitizeDeepseekV3, KeepDType: func(name string) bool { return strings.Contains(name, "e_score_correction_bias") }},
	GGUF: &model.GGUF{
		Types: []string{"deepseek_v3", "kimi_k2", "joyai_llm_flash"}, Arch: "deepseek2", Vocab: "deepseek2", SetVocab: model.VocabLoader.BPE,
		Layer: model.WithLayer(map[string]string{
			"self_attn.q_proj":                 "attn_q",
			"self_attn.q_a_proj":               "attn_q_a",
			"self_attn.q_a_layernorm":          "attn_q_a_norm",
			"self_attn.q_b_proj":               "attn_q_b",
			"self_attn.kv_a_proj_with_mqa":     "attn_kv_a_mqa",
			"self_attn.kv_a_layernorm":         "attn_kv_a_norm",
			"self_attn.embed_q":                "attn_k_b", // kv_b_proj's k part, transposed
			"self_attn.unembed_out":            "attn_v_b",
			"mlp.gate":                         "ffn_gate_inp",
			"mlp.gate.e_score_correction_bias": "exp_probs_b.bias",
			"mlp.switch_mlp.gate_proj":         "ffn_gate_exps",
			"mlp.switch_mlp.up_proj":           "ffn_up_exps",
			"mlp.switch_mlp.down_proj":         "ffn_down_exps",
			"mlp.shared_experts.gate_proj":     "ffn_gate_shexp",
			"mlp.shared_experts.up_proj":       "ffn_up_shexp",
			"mlp.shared_experts.down_proj":     "ffn_down_shexp",
		}),
		ExpertOrder: qwenMoEOrder, Params: deepseekV3Params,
		Configs: map[string]*model.HFConfig{"deepseek_v3": {Defaults: map[string]any{"vocab_size": 129280, "max_position_embeddings": 4096,
			"hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_attention_heads": 128,
			"n_shared_experts": 1, "n_routed_experts": 256, "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 1536,
			"qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8,
			"first_k_dense_replace": 3, "norm_topk_prob": true, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": nil,
			"tie_word_embeddings": false}, KVHeads: model.KVHeadsNullOrAbsent}},
	},
}

// deepseekV3Params is DeepseekV2Model.set_gguf_parameters: TextModel's
// with one KV head (MLA as MQA), then the MLA and expert sizes.
func deepseekV3Params(m *model.Meta) error {
	h := m.H
	kvLora, _, err := h.FindInt("kv_lora_rank")
	if err != nil {
		return err
	}
	if !h.Has("kv_lora_rank") {
		kvLora = 512
	}
	var rope, nope int64
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.U32("attention.head_count_kv", 1) },
		func() error { return deepseekDenseLead(m) },
		func() error { return m.ReqU32("vocab_size", "vocab_size") },
		func() error { return m.OptU32("attention.q_lora_rank", "q_lora_rank") },
		func() error { return m.U32("attention.kv_lora_rank", kvLora) },
		func() (err error) { rope, err = h.ReqU32("qk_rope_head_dim"); return },
		func() (err error) { nope, err = h.ReqU32("qk_nope_head_dim"); return },
		func() error { return m.U32("attention.key_length", kvLora+rope) },
		func() error { return m.U32("attention.value_length", kvLora) },
		func() error { return m.U32("attention.key_length_mla", nope+rope) },
		func() error { return m.ReqU32("attention.value_length_mla", "v_head_dim") },
		func() error {
			return m.ReqU32("expert_feed_forward_length", "moe_intermediate_size", "intermediate_size")
		},
		func() error { return m.OptU32("expert_count", "n_routed_experts") },
		func() error { return deepseekSharedAndWeights(m) },
		func() error { return m.U32("rope.dimension_count", rope) },
		func() error { return deepseekYarnLogMul(m) },
	)
}

// deepseekDenseLead writes first_k_dense_replace (absent: every layer
// without routed experts, none with).
func deepseekDenseLead(m *model.Meta) error {
	n, ok, err := m.H.FindInt("first_k_dense_replace")
	if err != nil {
		return err
	}
	if !ok {
		if _, moe := m.H.Get("n_routed_experts"); !moe {
			n, err = m.H.ReqInt("num_hidden_layers")
		}
	}
	if err != nil {
		return err
	}
	return m.U32("leading_dense_block_count", n)
}

// deepseekSharedAndWeights writes the shared expert count (0 when absent)
// and the routed weights' scale and normalization.
func deepseekSharedAndWeights(m *model.Meta) error {
	shared, _, err := m.H.FindInt("n_shared_experts")
	if err != nil {
		return err
	}
	if err := m.U32("expert_shared_count", shared); err != nil {
		return err
	}
	if err := m.OptF32("expert_weights_scale", "routed_scaling_factor"); err != nil {
		return err
	}
	if norm, ok, err := m.H.FindBool("norm_topk_prob"); err != nil || !ok || !norm {
		return err
	}
	m.Set(m.ArchKey("expert_weights_norm"), gguf.NewValue(true))
	return nil
}

// deepseekYarnLogMul writes 0.1 * mscale_all_dim of the rope parameters.
func deepseekYarnLogMul(m *model.Meta) error {
	f, ok, err := m.Rope.Float("mscale_all_dim")
	if err != nil || !ok {
		return err
	}
	m.F32("rope.scaling.yarn_log_multiplier", 0.1*f)
	return nil
}

// deepseekV3Args are the ModelArgs fields the parameter tree depends on.
type deepseekV3Args struct {
	model.Dims
	layers, moeInter, kvLora, ropeDim, vDim, nopeDim, firstDense, moeFreq int
	qLora, routed, shared                                                 int // 0: None
	bias                                                                  bool
}

// optIntOr reads an Optional[int] field: def when absent, 0 when null.
func optIntOr(c model.Config, key string, def int) (int, error) {
	if !c.Present(key) {
		return def, nil
	}
	v, _, err := c.OptInt(key)
	return v, err
}

func readDeepseekV3(c model.Config) (a deepseekV3Args, err error) {
	err = model.IntsOr(c, model.IntDefault{Key: "vocab_size", Dst: &a.Vocab, Def: 102400},
		model.IntDefault{Key: "hidden_size", Dst: &a.Hidden, Def: 4096},
		model.IntDefault{Key: "intermediate_size", Dst: &a.Inter, Def: 11008},
		model.IntDefault{Key: "moe_intermediate_size", Dst: &a.moeInter, Def: 1407},
		model.IntDefault{Key: "num_hidden_layers", Dst: &a.layers, Def: 30},
		model.IntDefault{Key: "num_attention_heads", Dst: &a.Heads, Def: 32},
		model.IntDefault{Key: "kv_lora_rank", Dst: &a.kvLora, Def: 512},
		model.IntDefault{Key: "qk_rope_head_dim", Dst: &a.ropeDim, Def: 64},
		model.IntDefault{Key: "v_head_dim", Dst: &a.vDim, Def: 128},
		model.IntDefault{Key: "qk_nope_head_dim", Dst: &a.nopeDim, Def: 128},
		model.IntDefault{Key: "moe_layer_freq", Dst: &a.moeFreq, Def: 1},
		model.IntDefault{Key: "first_k_dense_replace", Dst: &a.firstDense, Def: 0})
	for _, f := range []struct {
		key string
		dst *int
		def int
	}{{"q_lora_rank", &a.qLora, 1536}, {"n_routed_experts", &a.routed, 0}, {"n_shared_experts", &a.shared, 0}} {
		if err == nil {
			*f.dst, err = optIntOr(c, f.key, f.def)
		}
	}
	if err == nil {
		a.bias, err = c.BoolOr("attention_bias", false)
	}
	switch {
	case err != nil:
	case a.Heads <= 0:
		err = c.Errf("num_attention_heads", "is %d", a.Heads)
	case a.layers < 0 || a.layers > model.MaxLayers:
		err = c.Errf("num_hidden_layers", "is %d", a.layers)
	case a.routed > 0 && a.moeFreq <= 0:
		err = c.Errf("moe_layer_freq", "is %d", a.moeFreq)
	}
	return a, err
}

func buildDeepseekV3(c model.Config, _ model.Tensors) (*model.Tree, error) {
	a, err := readDeepseekV3(c)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", a.Vocab, a.Hidden)
	for l := 0; l < a.layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		a.attention(&b, p+".self_attn")
		if a.routed > 0 && l >= a.firstDense && l%a.moeFreq == 0 {
			b.SwitchGLU(p+".mlp.switch_mlp", a.Hidden, a.moeInter, a.routed)
			b.Params(p+".mlp.gate", model.Param{Name: "weight", Shape: []int{a.routed, a.Hidden}},
				model.Param{Name: "e_score_correction_bias", Shape: []int{a.routed}})
			if a.shared > 0 {
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
	return b.Tree(a.layers), nil
}

// attention adds DeepseekV3Attention's modules in attribute order.
func (a *deepseekV3Args) attention(b *model.Builder, p string) {
	qHead := a.nopeDim + a.ropeDim
	if a.qLora == 0 {
		b.Linear(p+".q_proj", a.Hidden, a.Heads*qHead, false)
	} else {
		b.Linear(p+".q_a_proj", a.Hidden, a.qLora, a.bias)
		b.Norm(p+".q_a_layernorm", a.qLora)
		b.Linear(p+".q_b_proj", a.qLora, a.Heads*qHead, false)
	}
	b.Linear(p+".kv_a_proj_with_mqa", a.Hidden, a.kvLora+a.ropeDim, a.bias)
	b.Norm(p+".kv_a_layernorm", a.kvLora)
	b.MultiLinear(p+".embed_q", a.nopeDim, a.kvLora, a.Heads)
	b.MultiLinear(p+".unembed_out", a.kvLora, a.vDim, a.Heads)
	b.Linear(p+".o_proj", a.Heads*a.vDim, a.Hidden, a.bias)
}

// deepseekMLP adds DeepseekV3MLP (gate_proj, up_proj, down_proj).
func deepseekMLP(b *model.Builder, p string, dims, hidden int) {
	b.Linear(p+".gate_proj", dims, hidden, false)
	b.Linear(p+".up_proj", dims, hidden, false)
	b.Linear(p+".down_proj", hidden, dims, false)
}

var deepseekExperts = model.ExpertStack{Experts: "experts", Stacked: "switch_mlp", Optional: true, Parts: model.QuantParts,
	Names: [][2]string{{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}}}

func sanitizeDeepseekV3(_ *model.Tree, c model.Config, ts model.Tensors) error {
	a, err := readDeepseekV3(c)
	if err != nil {
		return err
	}
	if err := remapDeepseekV3Int4(ts); err != nil {
		return err
	}
	if err := model.CheckExperts(a.routed, a.layers, ts); err != nil {
		return err
	}
	for l := 0; l < a.layers; l++ {
		if err := a.sanitizeLayer(ts, "model.layers."+strconv.Itoa(l)); err != nil {
			return err
		}
	}
	// The multi-token-prediction layer (61 in DeepSeek-V3 and Kimi-K2, as
	// mlx-lm drops it; any layer past num_hidden_layers, which mlx-lm would
	// refuse) and precomputed rotary frequencies.
	ts.Filter(func(n string) bool {
		return !strings.HasPrefix(n, "model.layers.61") && !strings.Contains(n, "rotary_emb.inv_freq") && !isLayerAtLeast(n, a.layers)
	})
	return nil
}

// remapDeepseekV3Int4 is the int4 remap of compressed-tensors
// pack-quantized weights (X.weight_packed viewed as uint32 becomes
// X.weight, X.weight_scale X.scales, -8 * it X.biases; Kimi-K2-Thinking).
// mlx-lm runs it before the FP8 dequant (Rules here); the two touch
// different tensors.
func remapDeepseekV3Int4(ts model.Tensors) error {
	for _, n := range ts.Names() {
		if strings.HasSuffix(n, "weight_shape") {
			if err := remapInt4(ts, strings.ReplaceAll(n, "weight_shape", "")); err != nil {
				return err
			}
			ts.Pop(n)
		}
	}
	ts.Filter(func(n string) bool {
		return !strings.HasSuffix(n, "weight_scale") && !strings.HasSuffix(n, "weight_packed")
	})
	return nil
}

// remapInt4 is one pack-quantized module (base ends with ".").
func remapInt4(ts model.Tensors, base string) error {
	for _, n := range []string{base + "weight", base + "scales", base + "biases"} {
		ts.Pop(n) // overwritten, as the Python dict entries are
	}
	if err := ts.Rename(base+"weight_packed", base+"weight"); err != nil {
		return err
	}
	if err := ts.ViewUint32(base + "weight"); err != nil {
		return err
	}
	if err := ts.Rename(base+"weight_scale", base+"scales"); err != nil {
		return err
	}
	return ts.Scaled(base+"biases", base+"scales", -8)
}

// sanitizeLayer stacks the layer's experts (each projection and part
// whose expert 0 is present) and splits its kv_b_proj.
func (a *deepseekV3Args) sanitizeLayer(ts model.Tensors, p string) error {
	if err := deepseekExperts.Apply(ts, p+".mlp", a.routed); err != nil {
		return err
	}
	return a.splitKVB(ts, p+".self_attn")
}

// isLayerAtLeast reports whether n is in a decoder layer ≥ layers.
func isLayerAtLeast(n string, layers int) bool {
	rest, ok := strings.CutPrefix(n, "model.layers.")
	if !ok {
		return false
	}
	idx, _, _ := strings.Cut(rest, ".")
	l, err := strconv.Atoi(idx)
	return err == nil && model.IsDigits(idx) && l >= layers
}

// splitKVB replaces kv_b_proj ([heads*(nope+v), kv_lora_rank]) by
// embed_q (its nope rows per head, transposed) and unembed_out (its v
// rows per head).
func (a *deepseekV3Args) splitKVB(ts model.Tensors, p string) error {
	w := p + ".kv_b_proj.weight"
	if !ts.Has(w) {
		return nil
	}
	if ts.Has(p + ".kv_b_proj.scales") {
		return fmt.Errorf("%w: tensor %q: an MLX-quantized kv_b_proj is not supported; convert from the unquantized checkpoint", model.ErrUnsupported, w)
	}
	head := a.nopeDim + a.vDim
	s, _ := ts.Shape(w)
	if len(s) != 2 || s[0] != a.Heads*head {
		return fmt.Errorf("%w: tensor %q has shape %v, want [%d, kv_lora_rank]", model.ErrWeights, w, s, a.Heads*head)
	}
	// v.reshape(heads, nope+v, -1): embed_q is its first nope rows per
	// head, transposed; unembed_out the rest.
	shape := []int{a.Heads, head, s[1]}
	if err := ts.View(p+".embed_q.weight", w, model.View{Shape: shape, Axis: 1, Start: 0, Stop: a.nopeDim, Swap12: true}); err != nil {
		return err
	}
	if err := ts.View(p+".unembed_out.weight", w, model.View{Shape: shape, Axis: 1, Start: a.nopeDim, Stop: head}); err != nil {
		return err
	}
	ts.Pop(w)
	return nil
}
