package family

import (
	"math"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Glm4MoE is mlx-lm's glm4_moe (GLM-4.5): dense layers before
// first_k_dense_replace, then a sigmoid router (a plain weight plus an
// e_score_correction_bias kept out of the dtype cast), routed and shared
// experts; the next-n (MTP) layer is dropped.
var Glm4MoE = &model.Family{
	Name:  "glm4_moe",
	Types: []string{"glm4_moe"},
	MLX: model.MLX{LegacyRope: true, Build: buildGlm4MoE, KeepDType: scoreBias, Rules: []model.SanitizeRule{
		model.StackExperts{Stack: sameNameExperts("switch_mlp"), Layers: "model.layers.", Block: "mlp", Count: "n_routed_experts"},
		model.Drop{model.Prefix("model.layers.{num_hidden_layers}")}, // the next-n (MTP) layer
	}},
	// Glm4MoeModel: the next-n layers are kept (blk.N.nextn.*), the
	// experts of every layer holding them stacked.
	GGUF: &model.GGUF{
		Types: []string{"glm4_moe"}, Arch: "glm4moe", Vocab: "glm4moe", SetVocab: glmVocab,
		Layer: model.WithLayer(glm4MoELayer), ExpertOrder: qwenMoEOrder, Params: glm4MoEParams,
		MLX: &model.MLX{LegacyRope: true, Build: buildGlm4MoEGGUF, Rules: []model.SanitizeRule{
			model.StackExperts{Stack: sameNameExperts("switch_mlp"), Layers: "model.layers.", Block: "mlp", Count: "n_routed_experts",
				From: model.LayersFromNames},
		}},
		Configs: map[string]*model.HFConfig{"glm4_moe": {Defaults: map[string]any{"vocab_size": 151552, "hidden_size": 4096,
			"intermediate_size": 10944, "num_attention_heads": 96, "partial_rotary_factor": 0.5, "num_key_value_heads": 8,
			"max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": false, "rope_theta": 10000.0,
			"rope_scaling": nil, "attention_bias": false, "moe_intermediate_size": 1408, "num_experts_per_tok": 8, "n_shared_experts": 1,
			"n_routed_experts": 128, "routed_scaling_factor": 1.0, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1,
			"norm_topk_prob": true, "use_qk_norm": false}}},
	},
}

// glm4MoELayer is glmMoELayer with post_attention_layernorm as
// post_attention_norm (GLM4_MOE's name for it).
var glm4MoELayer = func() map[string]string {
	m := map[string]string{"post_attention_layernorm": "post_attention_norm"}
	for k, v := range glmMoELayer {
		m[k] = v
	}
	return m
}()

// glmMoELayer are the GLM MoE layers' GGUF names beyond CommonLayer: the
// sigmoid router with its score bias, routed and shared experts, and the
// next-n (MTP) layer's own modules.
var glmMoELayer = map[string]string{
	"mlp.gate":                         "ffn_gate_inp",
	"mlp.gate.e_score_correction_bias": "exp_probs_b.bias",
	"mlp.switch_mlp.gate_proj":         "ffn_gate_exps",
	"mlp.switch_mlp.up_proj":           "ffn_up_exps",
	"mlp.switch_mlp.down_proj":         "ffn_down_exps",
	"mlp.shared_experts.gate_proj":     "ffn_gate_shexp",
	"mlp.shared_experts.up_proj":       "ffn_up_shexp",
	"mlp.shared_experts.down_proj":     "ffn_down_shexp",
	"eh_proj":                          "nextn.eh_proj",
	"embed_tokens":                     "nextn.embed_tokens",
	"enorm":                            "nextn.enorm",
	"hnorm":                            "nextn.hnorm",
	"shared_head.head":                 "nextn.shared_head_head",
	"shared_head.norm":                 "nextn.shared_head_norm",
}

// glm4MoEParams is Glm4MoeModel.set_gguf_parameters: TextModel's (the
// next-n layers counted as blocks), the rotary part of the head, the
// expert sizes, sigmoid gating and the next-n layer count. The next-n
// layers count only where the input has them (an mlx-lm output has not).
func glm4MoEParams(m *model.Meta) error {
	nextn, err := nextnLayers(m)
	if err != nil {
		return err
	}
	return model.Steps(
		func() error { return model.TextParams(m) },
		func() error { return m.U32("block_count", m.BlockCount+nextn) },
		func() error { return glmRopeDim(m) },
		func() error { return m.OptU32("expert_count", "n_routed_experts") },
		func() error { return m.OptU32("expert_feed_forward_length", "moe_intermediate_size") },
		func() error { return m.OptU32("expert_shared_count", "n_shared_experts") },
		func() error { return m.OptU32("leading_dense_block_count", "first_k_dense_replace") },
		func() error { m.Set(m.ArchKey("expert_gating_func"), gguf.NewValue[uint32](2)); return nil }, // sigmoid
		func() error { return m.OptF32("expert_weights_scale", "routed_scaling_factor") },
		func() error { return optBool(m, "expert_weights_norm", "norm_topk_prob") },
		func() error { return nextnKV(m, nextn) },
	)
}

// glmRopeDim writes head_dim (or hidden_size / num_attention_heads) times
// partial_rotary_factor (default 0.5) as the rope dimension count.
func glmRopeDim(m *model.Meta) error {
	dim, err := model.RopeDim(m.H)
	if err != nil {
		return err
	}
	f, err := m.Rope.FloatOr("partial_rotary_factor", 0.5)
	if err != nil {
		return err
	}
	return m.U32("rope.dimension_count", int64(math.Trunc(float64(dim)*f)))
}

// optBool writes the config bool key as suffix when it is present.
func optBool(m *model.Meta, suffix, key string) error {
	b, ok, err := m.H.FindBool(key)
	if err != nil || !ok {
		return err
	}
	m.Set(m.ArchKey(suffix), gguf.NewValue(b))
	return nil
}

// nextnLayers is num_nextn_predict_layers when the exported model has the
// first next-n layer (model.layers.<num_hidden_layers>.eh_proj), else 0.
func nextnLayers(m *model.Meta) (int64, error) {
	if !m.HasParam("model.layers." + strconv.FormatInt(m.BlockCount, 10) + ".eh_proj.weight") {
		return 0, nil
	}
	n, _, err := m.H.FindInt("num_nextn_predict_layers")
	return n, err
}

// nextnKV writes nextn_predict_layers for n > 0 next-n layers.
func nextnKV(m *model.Meta, n int64) error {
	if n == 0 {
		return nil
	}
	return m.U32("nextn_predict_layers", n)
}

// nextnTreeLayers is the number of next-n layers the GGUF tree adds:
// num_nextn_predict_layers when the checkpoint has tensors of layer
// num_hidden_layers, else 0.
func nextnTreeLayers(c model.Config, ts model.Tensors, layers int) (int, error) {
	if len(ts.WithPrefix("model.layers."+strconv.Itoa(layers)+".")) == 0 {
		return 0, nil
	}
	n, err := c.IntOr("num_nextn_predict_layers", 0)
	if err == nil && (n < 0 || n > model.MaxLayers) {
		err = c.Errf("num_nextn_predict_layers", "is %d", n)
	}
	return n, err
}

// nextnModules adds a next-n layer's own modules (GLM's MTP): eh_proj,
// enorm, hnorm, shared_head.norm, and embed_tokens / shared_head.head
// where the checkpoint has them.
func nextnModules(b *model.Builder, ts model.Tensors, p string, hidden, vocab int) {
	b.Linear(p+".eh_proj", 2*hidden, hidden, false)
	b.Norm(p+".enorm", hidden)
	b.Norm(p+".hnorm", hidden)
	b.Norm(p+".shared_head.norm", hidden)
	if ts.Has(p + ".embed_tokens.weight") {
		b.Embedding(p+".embed_tokens", vocab, hidden)
	}
	if ts.Has(p + ".shared_head.head.weight") {
		b.Linear(p+".shared_head.head", hidden, vocab, false)
	}
}

// glmVocab is TextModel._set_vocab_glm: BPE, with bos [gMASK], eot
// <|user|>, unk <|endoftext|> and eom <|observation|> where the
// tokenizer files set none.
func glmVocab(l model.VocabLoader) error {
	if err := l.BPE(); err != nil {
		return err
	}
	kinds := []string{"bos", "eot", "unk", "eom"}
	ids := map[string]int64{}
	for i, content := range []string{"[gMASK]", "<|user|>", "<|endoftext|>", "<|observation|>"} {
		id, err := l.AddedTokenID(content)
		if err != nil {
			return err
		}
		ids[kinds[i]] = id
	}
	return l.ExtraSpecials(kinds, ids, true)
}

// scoreBias is the negated cast_predicate of the models whose router
// keeps its e_score_correction_bias in its own dtype.
func scoreBias(name string) bool { return strings.Contains(name, "e_score_correction_bias") }

func buildGlm4MoE(c model.Config, ts model.Tensors) (*model.Tree, error) {
	return glm4MoETree(c, ts, false)
}

// buildGlm4MoEGGUF is the converter's tree: mlx-lm's with the next-n
// layers the checkpoint has.
func buildGlm4MoEGGUF(c model.Config, ts model.Tensors) (*model.Tree, error) {
	return glm4MoETree(c, ts, true)
}

func glm4MoETree(c model.Config, ts model.Tensors, withNextN bool) (*model.Tree, error) {
	if err := model.NeedKeysRope(c, "vocab_size", "hidden_size", "intermediate_size", "max_position_embeddings",
		"moe_intermediate_size", "norm_topk_prob", "num_attention_heads", "n_group", "head_dim", "topk_group",
		"n_shared_experts", "n_routed_experts", "routed_scaling_factor", "num_experts_per_tok", "first_k_dense_replace",
		"num_hidden_layers", "num_key_value_heads", "rms_norm_eps", "rope_theta", "rope_scaling", "use_qk_norm",
		"tie_word_embeddings", "attention_bias", "partial_rotary_factor"); err != nil {
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
	var kv, headDim, moeInter, firstDense, experts, shared int
	var hasExperts, hasShared, qkNorm, bias bool
	err = model.Steps(
		func() (err error) { kv, err = c.PosInt("num_key_value_heads"); return },
		func() (err error) { headDim, err = c.PosInt("head_dim"); return },
		func() (err error) { moeInter, err = c.ReqInt("moe_intermediate_size"); return },
		func() (err error) { firstDense, err = c.ReqInt("first_k_dense_replace"); return },
		func() (err error) { experts, hasExperts, err = c.OptInt("n_routed_experts"); return },
		func() (err error) { shared, hasShared, err = c.OptInt("n_shared_experts"); return },
		func() (err error) { qkNorm, err = c.BoolOr("use_qk_norm", false); return },
		func() (err error) { bias, err = c.BoolOr("attention_bias", false); return },
	)
	if err != nil {
		return nil, err
	}
	nextn := 0
	if withNextN {
		if nextn, err = nextnTreeLayers(c, ts, layers); err != nil {
			return nil, err
		}
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", d.Vocab, d.Hidden)
	for l := 0; l < layers+nextn; l++ {
		p := "model.layers." + strconv.Itoa(l)
		if l >= layers {
			nextnModules(&b, ts, p, d.Hidden, d.Vocab)
		}
		b.Attention(p+".self_attn", d.Hidden, d.Heads, kv, headDim, bias, false)
		if qkNorm {
			b.Norm(p+".self_attn.q_norm", headDim)
			b.Norm(p+".self_attn.k_norm", headDim)
		}
		if hasExperts && l >= firstDense {
			b.SwitchGLU(p+".mlp.switch_mlp", d.Hidden, moeInter, experts)
			b.Params(p+".mlp.gate", model.Param{Name: "weight", Shape: []int{experts, d.Hidden}},
				model.Param{Name: "e_score_correction_bias", Shape: []int{experts}})
			if hasShared {
				b.MLPGateUpDown(p+".mlp.shared_experts", d.Hidden, moeInter*shared, false)
			}
		} else {
			b.MLPGateUpDown(p+".mlp", d.Hidden, d.Inter, false)
		}
		b.Norm(p+".input_layernorm", d.Hidden)
		b.Norm(p+".post_attention_layernorm", d.Hidden)
	}
	b.Norm("model.norm", d.Hidden)
	b.Linear("lm_head", d.Hidden, d.Vocab, false)
	return b.Tree(layers + nextn), nil
}

// sameNameExperts stacks experts.<e>.{gate,down,up}_proj into
// <stacked>.{gate,down,up}_proj, quantized parts included.
func sameNameExperts(stacked string) model.ExpertStack {
	return model.ExpertStack{Experts: "experts", Stacked: stacked,
		Names: [][2]string{{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}}, Parts: model.QuantParts, Optional: true}
}
