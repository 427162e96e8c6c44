package family

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model"
)

// Jamba is mlx-lm's jamba: attention and Mamba layers (layers_block_type,
// or by attn_layer_period/offset), routed experts every
// expert_layer_period layers (stacked from per-expert tensors), 8-bit
// routers.
var Jamba = &model.Family{
	Name:  "jamba",
	Types: []string{"jamba"},
	MLX: model.MLX{Build: buildJamba, Pred: model.RouterPred("router"), Rules: []model.SanitizeRule{
		model.Transform{Match: []model.Match{model.Contains("conv1d.weight")}, If: model.LastDimNot1, Op: model.ValueSwapLast2},
		model.TiedHead{Default: true},
		model.StackExperts{Stack: model.ExpertStack{Experts: "experts", Stacked: "switch_mlp",
			Names: [][2]string{{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}},
			Parts: []string{"weight", "bias", "scales", "biases"}, Optional: true},
			Layers: "model.layers.", Block: "feed_forward", Count: "num_experts"},
	}},
	// JambaModel: llama-like attention (not permuted), Mamba mixers with
	// their dt/B/C norms (A = -exp(A_log), the conv1d weight squeezed),
	// experts stacked down, gate, up; a per-layer KV head count.
	GGUF: &model.GGUF{
		Types: []string{"jamba"}, Arch: "jamba", Vocab: "jamba", SetVocab: jambaVocab, TokenizerClass: "LlamaTokenizerFast",
		Params: jambaParams,
		Global: map[string]string{"model.final_layernorm": "output_norm"},
		Layer: map[string]string{
			"input_layernorm":                   "attn_norm",
			"pre_ff_layernorm":                  "ffn_norm",
			"self_attn.q_proj":                  "attn_q",
			"self_attn.k_proj":                  "attn_k",
			"self_attn.v_proj":                  "attn_v",
			"self_attn.o_proj":                  "attn_output",
			"mamba.in_proj":                     "ssm_in",
			"mamba.conv1d":                      "ssm_conv1d",
			"mamba.x_proj":                      "ssm_x",
			"mamba.dt_proj":                     "ssm_dt",
			"mamba.A_log":                       "ssm_a",
			"mamba.D":                           "ssm_d",
			"mamba.out_proj":                    "ssm_out",
			"mamba.dt_layernorm":                "ssm_dt_norm",
			"mamba.b_layernorm":                 "ssm_b_norm",
			"mamba.c_layernorm":                 "ssm_c_norm",
			"feed_forward.gate_proj":            "ffn_gate",
			"feed_forward.up_proj":              "ffn_up",
			"feed_forward.down_proj":            "ffn_down",
			"feed_forward.router":               "ffn_gate_inp",
			"feed_forward.switch_mlp.gate_proj": "ffn_gate_exps",
			"feed_forward.switch_mlp.up_proj":   "ffn_up_exps",
			"feed_forward.switch_mlp.down_proj": "ffn_down_exps",
		},
		ExpertOrder: []string{"ffn_down_exps", "ffn_gate_exps", "ffn_up_exps"},
		Tensors:     map[string]model.TensorRule{"ssm_conv1d.weight": {Squeeze: true}, "ssm_a": {NegExp: true}},
		Configs: map[string]*model.HFConfig{"jamba": {Defaults: map[string]any{"vocab_size": 65536, "tie_word_embeddings": false,
			"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
			"num_key_value_heads": 8, "rms_norm_eps": 1e-6, "num_experts_per_tok": 2, "num_experts": 16,
			"expert_layer_period": 2, "expert_layer_offset": 1, "attn_layer_period": 8, "attn_layer_offset": 4,
			"max_position_embeddings": 262144, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2,
			"mamba_conv_bias": true, "mamba_proj_bias": false}}},
	},
}

// jambaVocab is JambaModel.set_vocab: tokenizer.model, else
// tokenizer.json as gguf-py's LlamaHfVocab without a space prefix.
func jambaVocab(l model.VocabLoader) error {
	if l.HasSPM() {
		return l.SPM(false)
	}
	if err := l.LlamaHF(); err != nil {
		return err
	}
	l.SetAddSpacePrefix(false)
	return nil
}

// jambaParams is JambaModel.set_gguf_parameters.
func jambaParams(m *model.Meta) error {
	dModel, err := m.H.ReqU32("hidden_size", "mamba_d_model")
	if err != nil {
		return err
	}
	var conv, expand, state, rank, kv, offset, period int64
	err = model.Steps(
		func() (err error) { conv, err = orU32(m.H, 4, "mamba_d_conv"); return },
		func() (err error) { expand, err = m.H.ReqU32("mamba_expand"); return },
		func() (err error) { state, err = orU32(m.H, 16, "mamba_d_state"); return },
		func() (err error) { rank, err = jambaDtRank(m.H, dModel); return },
		func() (err error) { kv, err = m.H.ReqU32("num_key_value_heads"); return },
		func() (err error) { offset, err = m.H.ReqU32("attn_layer_offset"); return },
		func() (err error) { period, err = m.H.ReqU32("attn_layer_period"); return },
	)
	if err != nil {
		return err
	}
	eps, err := orF64(m.H, 1e-6, "layer_norm_epsilon", "rms_norm_eps")
	if err != nil {
		return err
	}
	if period == 0 {
		return fmt.Errorf("%w: attn_layer_period is 0", model.ErrExport)
	}
	kvs := make([]int32, m.BlockCount)
	for i := offset; i < m.BlockCount; i++ {
		if (i-offset)%period == 0 {
			kvs[i] = int32(kv)
		}
	}
	err = model.Steps(
		func() error { return m.U32("block_count", m.BlockCount) },
		func() error { return m.ReqU32("context_length", "max_position_embeddings", "n_ctx") },
		func() error { return m.U32("embedding_length", dModel) },
		func() error { return m.ReqU32("feed_forward_length", "intermediate_size") },
		func() error { return m.ReqU32("attention.head_count", "num_attention_heads") },
		func() error { m.Set(m.ArchKey("attention.head_count_kv"), gguf.NewValue(kvs)); return nil },
		func() error { return m.U32("ssm.conv_kernel", conv) },
		func() error { return m.U32("ssm.inner_size", expand*dModel) },
		func() error { return m.U32("ssm.state_size", state) },
		func() error { return m.U32("ssm.time_step_rank", rank) },
		func() error { m.F32("attention.layer_norm_rms_epsilon", eps); return nil },
		func() error { return m.ReqU32("expert_count", "num_local_experts", "num_experts") },
		func() error { return m.ReqU32("expert_used_count", "num_experts_per_tok", "num_experts_per_token") },
	)
	if err != nil {
		return err
	}
	m.Set("general.file_type", gguf.NewValue(uint32(m.FileType)))
	return nil
}

// jambaDtRank is mamba_dt_rank or ceil(d_model / 16) (JambaConfig turns
// "auto" into the latter).
func jambaDtRank(h *model.HParams, dModel int64) (int64, error) {
	if v, ok := h.Get("mamba_dt_rank"); ok {
		if s, isStr := v.(string); isStr && s == "auto" {
			return (dModel + 15) / 16, nil
		}
	}
	return orU32(h, (dModel+15)/16, "mamba_dt_rank")
}

// jamba is the shape of a Jamba model.
type jamba struct {
	hidden, inter, heads, kv, experts int
	inner, state, kernel, rank        int
	expertOffset, expertPeriod        int
	projBias, convBias                bool
}

func buildJamba(c model.Config, _ model.Tensors) (*model.Tree, error) {
	if err := model.NeedKeys(c, "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
		"num_key_value_heads", "attn_layer_offset", "attn_layer_period", "expert_layer_offset", "expert_layer_period",
		"mamba_d_conv", "mamba_d_state", "mamba_expand", "num_experts", "num_experts_per_tok", "rms_norm_eps",
		"max_position_embeddings", "vocab_size"); err != nil {
		return nil, err
	}
	var j jamba
	var vocab, expand int
	if err := posInts(c, posInt{"vocab_size", &vocab}, posInt{"hidden_size", &j.hidden}, posInt{"intermediate_size", &j.inter},
		posInt{"num_attention_heads", &j.heads}, posInt{"num_key_value_heads", &j.kv}, posInt{"mamba_d_conv", &j.kernel},
		posInt{"mamba_d_state", &j.state}, posInt{"mamba_expand", &expand}, posInt{"expert_layer_period", &j.expertPeriod}); err != nil {
		return nil, err
	}
	var err error
	if j.experts, err = c.ReqInt("num_experts"); err != nil {
		return nil, err
	}
	if j.expertOffset, err = c.ReqInt("expert_layer_offset"); err != nil {
		return nil, err
	}
	j.inner = expand * j.hidden
	if j.rank, err = dtRank(c, "mamba_dt_rank", j.hidden); err != nil {
		return nil, err
	}
	if j.projBias, err = c.BoolOr("mamba_proj_bias", false); err != nil {
		return nil, err
	}
	if j.convBias, err = c.BoolOr("mamba_conv_bias", true); err != nil {
		return nil, err
	}
	tie, err := c.BoolOr("tie_word_embeddings", true)
	if err != nil {
		return nil, err
	}
	types, err := jambaLayerTypes(c)
	if err != nil {
		return nil, err
	}
	var b model.Builder
	b.Embedding("model.embed_tokens", vocab, j.hidden)
	for l, t := range types {
		j.layer(&b, "model.layers."+strconv.Itoa(l), l, t == "attention")
	}
	b.Norm("model.final_layernorm", j.hidden)
	if !tie {
		b.Linear("lm_head", j.hidden, vocab, false)
	}
	return b.Tree(len(types)), nil
}

// jambaLayerTypes is layers_block_type, or "attention" where
// i % attn_layer_period == attn_layer_offset and "mamba" elsewhere; mlx-lm
// needs at least one of each.
func jambaLayerTypes(c model.Config) ([]string, error) {
	if c.Has("layers_block_type") {
		types, err := strList(c, "layers_block_type")
		if err != nil {
			return nil, err
		}
		if len(types) > model.MaxLayers {
			return nil, c.Errf("layers_block_type", "has %d layers, too many", len(types))
		}
		return types, checkJambaTypes(c, "layers_block_type", types)
	}
	n, err := model.LayerCount(c)
	if err != nil {
		return nil, err
	}
	period, err := c.PosInt("attn_layer_period")
	if err != nil {
		return nil, err
	}
	offset, err := c.ReqInt("attn_layer_offset")
	if err != nil {
		return nil, err
	}
	types := make([]string, n)
	for i := range types {
		types[i] = mambaLayer
		if i%period == offset {
			types[i] = "attention"
		}
	}
	return types, checkJambaTypes(c, "attn_layer_period", types)
}

func checkJambaTypes(c model.Config, key string, types []string) error {
	for _, t := range []string{"attention", mambaLayer} {
		if !slices.Contains(types, t) {
			return c.Errf(key, "gives no %q layer (mlx-lm needs one)", t)
		}
	}
	return nil
}

// layer adds decoder layer l at p: attention or the Mamba mixer, then the
// feed-forward (experts or MLP), then the two norms.
func (j *jamba) layer(b *model.Builder, p string, l int, attn bool) {
	if attn {
		hd := j.hidden / j.heads
		b.Attention(p+".self_attn", j.hidden, j.heads, j.kv, hd, false, false)
	} else {
		m := p + ".mamba"
		b.Linear(m+".in_proj", j.hidden, 2*j.inner, j.projBias)
		b.DepthwiseConv1d(m+".conv1d", j.inner, j.kernel, j.convBias)
		b.Linear(m+".x_proj", j.inner, j.rank+2*j.state, false)
		b.Linear(m+".dt_proj", j.rank, j.inner, true)
		b.BlockParams(m, model.Param{Name: "A_log", Shape: []int{j.inner, j.state}}, model.Param{Name: "D", Shape: []int{j.inner}})
		b.Linear(m+".out_proj", j.inner, j.hidden, j.projBias)
		b.Norm(m+".dt_layernorm", j.rank)
		b.Norm(m+".b_layernorm", j.state)
		b.Norm(m+".c_layernorm", j.state)
	}
	f := p + ".feed_forward"
	if j.experts > 1 && pyMod(l+j.expertOffset, j.expertPeriod) == 0 {
		b.Linear(f+".router", j.hidden, j.experts, false)
		b.SwitchGLU(f+".switch_mlp", j.hidden, j.inter, j.experts)
	} else {
		b.Linear(f+".gate_proj", j.hidden, j.inter, false)
		b.Linear(f+".up_proj", j.hidden, j.inter, false)
		b.Linear(f+".down_proj", j.inter, j.hidden, false)
	}
	b.Norm(p+".input_layernorm", j.hidden)
	b.Norm(p+".pre_ff_layernorm", j.hidden)
}

// pyMod is Python's a % m for a positive m.
func pyMod(a, m int) int { return ((a % m) + m) % m }

// dtRank is the integer at key or, for "auto" (and absent: the default),
// ceil(hidden / 16).
func dtRank(c model.Config, key string, hidden int) (int, error) {
	if !c.Present(key) {
		return (hidden + 15) / 16, nil
	}
	if s, ok := c.Str(key); ok {
		if s != "auto" {
			return 0, c.Errf(key, "is %q, want an integer or \"auto\"", s)
		}
		return (hidden + 15) / 16, nil
	}
	return c.PosInt(key)
}
