package ggufexport

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// Architecture knowledge of the GGUF exporter, as data: for every config
// model_type mlxconv exports, the GGUF architecture llama.cpp's
// convert_hf_to_gguf.py (llama-cpp-python 0.3.36's vendored copy) writes,
// its tensor names, transforms and metadata.

// archInfo describes one exported architecture.
type archInfo struct {
	// gguf is the GGUF architecture name (general.architecture).
	gguf string
	// vocab is the tokenizer rule set (VocabOptions.Arch).
	vocab string
	// permuteQK undoes HF's rotate-half Q/K layout (LlamaModel.permute).
	permuteQK bool
	// normShift adds 1 to every *norm.weight (Gemma's RMSNorm scales by
	// 1 + weight).
	normShift bool
	// dropHead never writes lm_head (Gemma's converters skip it).
	dropHead bool
	// trimEmbd cuts token_embd to the tokenizer's size (Gemma 3).
	trimEmbd bool
	// layer maps a layer-relative module path to its GGUF name.
	layer map[string]string
	// expertOrder is the order the converter emits a layer's stacked
	// experts in (by GGUF base name).
	expertOrder []string
	// params writes the architecture's {arch}.* keys (set_gguf_parameters).
	params func(m *metaWriter) error
}

// Layer-relative MLX module paths (after convert's sanitize) and their GGUF
// names, shared by the llama-like architectures.
var commonLayer = map[string]string{
	"input_layernorm":          "attn_norm",
	"post_attention_layernorm": "ffn_norm",
	"self_attn.q_proj":         "attn_q",
	"self_attn.k_proj":         "attn_k",
	"self_attn.v_proj":         "attn_v",
	"self_attn.o_proj":         "attn_output",
	"self_attn.q_norm":         "attn_q_norm",
	"self_attn.k_norm":         "attn_k_norm",
	"mlp.gate_proj":            "ffn_gate",
	"mlp.up_proj":              "ffn_up",
	"mlp.down_proj":            "ffn_down",
}

func withLayer(extra map[string]string) map[string]string {
	m := make(map[string]string, len(commonLayer)+len(extra))
	for k, v := range commonLayer {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var (
	llamaLayer = withLayer(map[string]string{
		"block_sparse_moe.gate":                 "ffn_gate_inp",
		"block_sparse_moe.switch_mlp.gate_proj": "ffn_gate_exps",
		"block_sparse_moe.switch_mlp.up_proj":   "ffn_up_exps",
		"block_sparse_moe.switch_mlp.down_proj": "ffn_down_exps",
	})
	qwenMoELayer = withLayer(map[string]string{
		"mlp.gate":                    "ffn_gate_inp",
		"mlp.switch_mlp.gate_proj":    "ffn_gate_exps",
		"mlp.switch_mlp.up_proj":      "ffn_up_exps",
		"mlp.switch_mlp.down_proj":    "ffn_down_exps",
		"mlp.shared_expert.gate_proj": "ffn_gate_shexp",
		"mlp.shared_expert.up_proj":   "ffn_up_shexp",
		"mlp.shared_expert.down_proj": "ffn_down_shexp",
		"mlp.shared_expert_gate":      "ffn_gate_inp_shexp",
	})
	gemma2Layer = withLayer(map[string]string{
		"post_attention_layernorm":   "post_attention_norm",
		"pre_feedforward_layernorm":  "ffn_norm",
		"post_feedforward_layernorm": "post_ffw_norm",
	})
	phi3Layer = withLayer(map[string]string{
		"self_attn.qkv_proj": "attn_qkv",
		"mlp.gate_up_proj":   "ffn_up",
	})
)

// exportArchs maps a config.json model_type to its architecture.
var exportArchs = map[string]*archInfo{}

func init() {
	llama := &archInfo{gguf: "llama", vocab: "llama", permuteQK: true, layer: llamaLayer,
		expertOrder: []string{"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps"}, params: llamaParams}
	for _, mt := range []string{"llama", "mistral", "mixtral"} {
		exportArchs[mt] = llama
	}
	exportArchs["qwen2"] = &archInfo{gguf: "qwen2", vocab: "qwen2", layer: commonLayer, params: textParams}
	exportArchs["qwen3"] = &archInfo{gguf: "qwen3", vocab: "qwen3", layer: commonLayer, params: textParams}
	moeOrder := []string{"ffn_down_exps", "ffn_gate_exps", "ffn_up_exps"}
	exportArchs["qwen2_moe"] = &archInfo{gguf: "qwen2moe", vocab: "qwen2moe", layer: qwenMoELayer, expertOrder: moeOrder, params: qwenMoEParams}
	exportArchs["qwen3_moe"] = &archInfo{gguf: "qwen3moe", vocab: "qwen3moe", layer: qwenMoELayer, expertOrder: moeOrder, params: qwenMoEParams}
	exportArchs["gemma"] = &archInfo{gguf: "gemma", vocab: "gemma", normShift: true, dropHead: true, layer: commonLayer, params: gemmaParams}
	exportArchs["gemma2"] = &archInfo{gguf: "gemma2", vocab: "gemma2", normShift: true, dropHead: true, layer: gemma2Layer, params: gemma2Params}
	g3 := &archInfo{gguf: "gemma3", vocab: "gemma3", normShift: true, trimEmbd: true, layer: gemma2Layer, params: gemma3Params}
	exportArchs["gemma3"] = g3
	exportArchs["gemma3_text"] = g3
	exportArchs["phi3"] = &archInfo{gguf: "phi3", vocab: "phi3", layer: phi3Layer, params: phi3Params}
}

// ExportModelTypes returns the config.json model types Export supports.
func ExportModelTypes() []string {
	out := make([]string, 0, len(exportArchs))
	for k := range exportArchs {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

// tensorName maps an MLX parameter name (module path + "." + param, after
// sanitize) to its GGUF name and block id (-1 outside blocks).
func (a *archInfo) tensorName(name string) (string, int, bool) {
	name = strings.TrimPrefix(name, "language_model.")
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return "", -1, false
	}
	path, param := name[:dot], name[dot+1:]
	if param != "weight" && param != "bias" {
		return "", -1, false
	}
	switch path {
	case "model.embed_tokens":
		return "token_embd." + param, -1, true
	case "model.norm":
		return "output_norm." + param, -1, true
	case "lm_head":
		return "output." + param, -1, true
	}
	rest, ok := strings.CutPrefix(path, "model.layers.")
	if !ok {
		return "", -1, false
	}
	num, sub, ok := strings.Cut(rest, ".")
	if !ok {
		return "", -1, false
	}
	bid, err := strconv.Atoi(num)
	if err != nil || bid < 0 || strconv.Itoa(bid) != num {
		return "", -1, false
	}
	g, ok := a.layer[sub]
	if !ok {
		return "", -1, false
	}
	return "blk." + num + "." + g + "." + param, bid, true
}

// ---- metadata (set_gguf_parameters)

// metaWriter collects KVs with gguf-py's GGUFWriter semantics (setting an
// existing key replaces its value in place) for one architecture.
type metaWriter struct {
	arch  string
	h     *hparams
	kvs   kvList
	ftype gguf.FileType
	rope  *ropeParams
	// blockCount is the text model's layer count.
	blockCount int64
}

func (m *metaWriter) set(key string, v gguf.Value) { m.kvs.set(key, v) }

func (m *metaWriter) archKey(suffix string) string { return m.arch + "." + suffix }

func (m *metaWriter) u32(suffix string, n int64) error {
	v, err := u32(m.archKey(suffix), n)
	if err != nil {
		return err
	}
	m.set(m.archKey(suffix), v)
	return nil
}

func (m *metaWriter) f32(suffix string, f float64) {
	m.set(m.archKey(suffix), gguf.Float32(float32(f)))
}

// optU32 writes the first present, non-null key of keys as UINT32.
func (m *metaWriter) optU32(suffix string, keys ...string) error {
	n, ok, err := m.h.findU32(keys...)
	if err != nil || !ok {
		return err
	}
	return m.u32(suffix, n)
}

func (m *metaWriter) optF32(suffix string, keys ...string) error {
	f, ok, err := m.h.findFloat(keys...)
	if err != nil || !ok {
		return err
	}
	m.f32(suffix, f)
	return nil
}

// reqU32 writes a required integer.
func (m *metaWriter) reqU32(suffix string, keys ...string) error {
	n, err := m.h.reqU32(keys...)
	if err != nil {
		return err
	}
	return m.u32(suffix, n)
}

func (m *metaWriter) reqF32(suffix string, keys ...string) error {
	f, ok, err := m.h.findFloat(keys...)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: config.json has none of %q", ErrExport, keys)
	}
	m.f32(suffix, f)
	return nil
}

// ropeParams is TextModel's rope_parameters: config rope_parameters or
// rope_scaling with rope_theta, the sliding-window theta, rope_type (from
// "type"), partial_rotary_factor and original_max_position_embeddings
// mirrored in.
type ropeParams struct {
	m       map[string]pyjson.Value
	sliding *float64 // sliding_attention.rope_theta
	full    map[string]pyjson.Value
	// field names where each key of m (and full) came from in config.json.
	field, fullField map[string]string
}

func newRopeParams(h *hparams) (*ropeParams, error) {
	rp := &ropeParams{m: map[string]pyjson.Value{}, field: map[string]string{}}
	srcKey := "rope_parameters"
	src, ok := h.m[srcKey]
	if !ok {
		srcKey = "rope_scaling"
		src = h.m[srcKey]
	}
	srcField := h.field(srcKey)
	if o, ok := src.(*pyjson.Object); ok {
		rp.m = objMap(o)
		for k := range rp.m {
			rp.field[k] = srcField + "." + k
		}
	} else if src != nil {
		return nil, configError(srcField, "an object", src)
	}
	if fa, ok := rp.m["full_attention"]; ok && fa != nil {
		o, isObj := fa.(*pyjson.Object)
		if !isObj {
			return nil, configError(rp.field["full_attention"], "an object", fa)
		}
		rp.full, rp.fullField = objMap(o), map[string]string{}
		for k := range rp.full {
			rp.fullField[k] = srcField + ".full_attention." + k
		}
	}
	if sa, ok := rp.m["sliding_attention"]; ok && sa != nil {
		o, isObj := sa.(*pyjson.Object)
		if !isObj {
			return nil, configError(rp.field["sliding_attention"], "an object", sa)
		}
		if v, ok := o.Get("rope_theta"); ok && v != nil {
			f, isNum := pyFloat(v)
			if !isNum {
				return nil, configError(srcField+".sliding_attention.rope_theta", "a number", v)
			}
			rp.sliding = &f
		}
	}
	_, hasFull := rp.m["full_attention"]
	_, hasSliding := rp.m["sliding_attention"]
	if !hasFull && !hasSliding {
		f, ok, err := h.findFloat("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq")
		if err != nil {
			return nil, err
		}
		if ok {
			rp.sliding = &f
		}
		mirror := func(key string, keys ...string) {
			if _, ok := rp.m[key]; ok {
				return
			}
			if v, k, ok := h.find(keys...); ok {
				rp.m[key], rp.field[key] = v, h.field(k)
			}
		}
		mirror("rope_theta", "global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base")
		if _, ok := rp.m["rope_type"]; !ok {
			if t, ok := rp.m["type"]; ok && t != nil {
				rp.m["rope_type"], rp.field["rope_type"] = t, rp.field["type"]
			}
		}
		mirror("partial_rotary_factor", "partial_rotary_factor", "rope_pct", "rope_percent")
		mirror("original_max_position_embeddings", "original_max_position_embeddings")
	}
	return rp, nil
}

// params returns rope_parameters["full_attention"] or rope_parameters,
// and the config field names of its keys.
func (r *ropeParams) params() (map[string]pyjson.Value, map[string]string) {
	if r.full != nil {
		return r.full, r.fullField
	}
	return r.m, r.field
}

// get returns the value of key (ok false when absent or null) and its
// config field name.
func (r *ropeParams) get(key string) (pyjson.Value, string, bool) {
	m, field := r.params()
	v, ok := m[key]
	return v, field[key], ok && v != nil
}

// str reads a string; another type is an error naming the config field.
func (r *ropeParams) str(key string) (string, bool, error) {
	v, field, ok := r.get(key)
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, configError(field, "a string", v)
	}
	return s, true, nil
}

// float reads a number; another type is an error naming the config field.
func (r *ropeParams) float(key string) (float64, bool, error) {
	v, field, ok := r.get(key)
	if !ok {
		return 0, false, nil
	}
	f, isNum := pyFloat(v)
	if !isNum {
		return 0, false, configError(field, "a number", v)
	}
	return f, true, nil
}

// floatOr is float with a default for an absent key.
func (r *ropeParams) floatOr(key string, def float64) (float64, error) {
	f, ok, err := r.float(key)
	if err != nil || !ok {
		return def, err
	}
	return f, nil
}

// u32 reads an integer a GGUF UINT32 holds.
func (r *ropeParams) u32(key string) (int64, bool, error) {
	v, field, ok := r.get(key)
	if !ok {
		return 0, false, nil
	}
	n, isInt := hpInt(v)
	if !isInt || n < 0 || n > math.MaxUint32 {
		return 0, false, configError(field, "an integer in [0, 4294967295]", v)
	}
	return n, true, nil
}

// floats reads a list of numbers (nil when absent or null).
func (r *ropeParams) floats(key string) ([]float32, error) {
	v, field, ok := r.get(key)
	if !ok {
		return nil, nil
	}
	list, isList := v.([]pyjson.Value)
	if !isList {
		return nil, configError(field, "a list of numbers", v)
	}
	out := make([]float32, len(list))
	for i, e := range list {
		f, isNum := pyFloat(e)
		if !isNum {
			return nil, configError(fmt.Sprintf("%s[%d]", field, i), "a number", e)
		}
		out[i] = float32(f)
	}
	return out, nil
}

// top is r without the full_attention view: rope_parameters itself.
func (r *ropeParams) top() *ropeParams {
	c := *r
	c.full, c.fullField = nil, nil
	return &c
}

// ropeType returns the rope type ("" when none).
func (r *ropeParams) ropeType() (string, error) {
	s, _, err := r.str("rope_type")
	return s, err
}

// textParams is TextModel.set_gguf_parameters.
func textParams(m *metaWriter) error {
	if err := m.u32("block_count", m.blockCount); err != nil {
		return err
	}
	steps := []func() error{
		func() error {
			return m.optU32("context_length", "max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length")
		},
		func() error { return m.optU32("embedding_length", "hidden_size", "n_embd", "dim") },
		func() error {
			return m.optU32("feed_forward_length", "prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim")
		},
		func() error { return m.optU32("attention.head_count", "num_attention_heads", "n_head", "n_heads") },
		func() error { return m.optU32("attention.head_count_kv", "num_key_value_heads", "n_kv_heads") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	if causal, ok, err := m.h.findBool("is_causal"); err != nil {
		return err
	} else if ok && !causal {
		m.set(m.archKey("attention.causal"), gguf.Bool(false))
	}
	t, err := m.rope.ropeType()
	if err != nil {
		return err
	}
	if t != "" {
		factor, hasFactor, err := m.rope.float("factor")
		if err != nil {
			return err
		}
		switch {
		case t == "linear" && hasFactor:
			m.set(m.archKey("rope.scaling.type"), gguf.String("linear"))
			m.f32("rope.scaling.factor", factor)
		case t == "yarn" && hasFactor:
			m.set(m.archKey("rope.scaling.type"), gguf.String("yarn"))
			m.f32("rope.scaling.factor", factor)
			orig, ok, err := m.rope.u32("original_max_position_embeddings")
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: yarn rope scaling without an integer original_max_position_embeddings", ErrExport)
			}
			if err := m.u32("rope.scaling.original_context_length", orig); err != nil {
				return err
			}
			attnKey := "attention_factor"
			if _, _, ok := m.rope.get(attnKey); !ok {
				attnKey = "attn_factor"
			}
			for _, y := range []struct{ suffix, key string }{
				{"rope.scaling.yarn_ext_factor", "extrapolation_factor"},
				{"rope.scaling.yarn_attn_factor", attnKey},
				{"rope.scaling.yarn_beta_fast", "beta_fast"},
				{"rope.scaling.yarn_beta_slow", "beta_slow"},
			} {
				f, ok, err := m.rope.float(y.key)
				if err != nil {
					return err
				}
				if ok {
					m.f32(y.suffix, f)
				}
			}
		case t == "su" || t == "longrope":
			m.set(m.archKey("rope.scaling.type"), gguf.String("longrope"))
		}
	}
	if f, ok, err := m.rope.float("rope_theta"); err != nil {
		return err
	} else if ok {
		m.f32("rope.freq_base", f)
	}
	if m.rope.sliding != nil {
		m.f32("rope.freq_base_swa", *m.rope.sliding)
	}
	if err := m.optF32("attention.layer_norm_rms_epsilon", "rms_norm_eps", "norm_eps"); err != nil {
		return err
	}
	if err := m.optF32("attention.layer_norm_epsilon", "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"); err != nil {
		return err
	}
	if err := m.optU32("expert_count", "num_local_experts", "num_experts", "n_routed_experts"); err != nil {
		return err
	}
	if err := m.optU32("expert_used_count", "num_experts_per_tok", "num_experts_per_token", "top_k_experts"); err != nil {
		return err
	}
	if err := m.optU32("expert_group_count", "n_group"); err != nil {
		return err
	}
	if err := m.optU32("expert_group_used_count", "topk_group"); err != nil {
		return err
	}
	if v, ok, err := m.h.findString("score_function", "scoring_func", "score_func", "moe_router_activation", "moe_router_activation_func", "expert_selection_fn"); err != nil {
		return err
	} else if ok {
		fn := map[string]uint32{"softmax": 1, "sigmoid": 2, "sqrtsoftplus": 4}[v]
		if fn == 0 {
			return fmt.Errorf("%w: unsupported expert gating function %q", ErrExport, v)
		}
		m.set(m.archKey("expert_gating_func"), gguf.Uint32(fn))
	}
	if n, ok, err := m.h.findU32("head_dim"); err != nil {
		return err
	} else if ok {
		if err := m.u32("attention.key_length", n); err != nil {
			return err
		}
		if err := m.u32("attention.value_length", n); err != nil {
			return err
		}
	}
	m.set("general.file_type", gguf.Uint32(uint32(m.ftype)))
	return nil
}

// ropeDim returns head_dim, or hidden_size / num_attention_heads.
func ropeDim(h *hparams) (int64, error) {
	if n, ok, err := h.findU32("head_dim"); err != nil || ok {
		return n, err
	}
	hidden, err := h.reqU32("hidden_size")
	if err != nil {
		return 0, err
	}
	heads, err := h.reqU32("num_attention_heads")
	if err != nil {
		return 0, err
	}
	if heads <= 0 {
		return 0, fmt.Errorf("%w: num_attention_heads is %d", ErrExport, heads)
	}
	return hidden / heads, nil
}

func llamaParams(m *metaWriter) error {
	if err := textParams(m); err != nil {
		return err
	}
	if err := m.reqU32("vocab_size", "vocab_size"); err != nil {
		return err
	}
	dim, err := ropeDim(m.h)
	if err != nil {
		return err
	}
	return m.u32("rope.dimension_count", dim)
}

func qwenMoEParams(m *metaWriter) error {
	if err := textParams(m); err != nil {
		return err
	}
	if err := m.optU32("expert_feed_forward_length", "moe_intermediate_size"); err != nil {
		return err
	}
	return m.optU32("expert_shared_feed_forward_length", "shared_expert_intermediate_size")
}

// gemmaCommon is GemmaModel/Gemma2Model.set_gguf_parameters up to the file
// type.
func gemmaCommon(m *metaWriter) error {
	for _, s := range []struct {
		suffix string
		keys   []string
	}{
		{"context_length", []string{"max_position_embeddings"}},
		{"embedding_length", []string{"hidden_size"}},
	} {
		if err := m.reqU32(s.suffix, s.keys...); err != nil {
			return err
		}
	}
	if err := m.u32("block_count", m.blockCount); err != nil {
		return err
	}
	if err := m.reqU32("feed_forward_length", "intermediate_size"); err != nil {
		return err
	}
	if err := m.reqU32("attention.head_count", "num_attention_heads"); err != nil {
		return err
	}
	kvKey := "num_attention_heads"
	if m.h.has("num_key_value_heads") {
		kvKey = "num_key_value_heads"
	}
	if err := m.reqU32("attention.head_count_kv", kvKey); err != nil {
		return err
	}
	if err := m.reqF32("attention.layer_norm_rms_epsilon", "rms_norm_eps"); err != nil {
		return err
	}
	if err := m.reqU32("attention.key_length", "head_dim"); err != nil {
		return err
	}
	if err := m.reqU32("attention.value_length", "head_dim"); err != nil {
		return err
	}
	m.set("general.file_type", gguf.Uint32(uint32(m.ftype)))
	return nil
}

func gemmaParams(m *metaWriter) error { return gemmaCommon(m) }

func gemma2Params(m *metaWriter) error {
	if err := gemmaCommon(m); err != nil {
		return err
	}
	if err := m.reqF32("attn_logit_softcapping", "attn_logit_softcapping"); err != nil {
		return err
	}
	if err := m.reqF32("final_logit_softcapping", "final_logit_softcapping"); err != nil {
		return err
	}
	return m.reqU32("attention.sliding_window", "sliding_window")
}

func gemma3Params(m *metaWriter) error {
	if err := textParams(m); err != nil {
		return err
	}
	intOr := func(key string, def int64) (int64, error) {
		n, ok, err := m.h.findU32(key)
		if err != nil || ok {
			return n, err
		}
		if m.h.has(key) { // present but null: hparams.get returns None
			return 0, fmt.Errorf("%w: config.json %q is null", ErrExport, key)
		}
		return def, nil
	}
	ctx, err := intOr("max_position_embeddings", 131072)
	if err != nil {
		return err
	}
	if err := m.u32("context_length", ctx); err != nil {
		return err
	}
	heads, err := intOr("num_attention_heads", 8)
	if err != nil {
		return err
	}
	if err := m.u32("attention.head_count", heads); err != nil {
		return err
	}
	eps := 1e-6
	if f, ok, err := m.h.findFloat("rms_norm_eps"); err != nil {
		return err
	} else if ok {
		eps = f
	}
	m.f32("attention.layer_norm_rms_epsilon", eps)
	hd, err := intOr("head_dim", 256)
	if err != nil {
		return err
	}
	if err := m.u32("attention.key_length", hd); err != nil {
		return err
	}
	if err := m.u32("attention.value_length", hd); err != nil {
		return err
	}
	theta, err := m.rope.floatOr("rope_theta", 1e6)
	if err != nil {
		return err
	}
	m.f32("rope.freq_base", theta)
	if v, ok := m.h.get("attn_logit_softcapping"); ok {
		return fmt.Errorf("%w: gemma3 with attn_logit_softcapping %v (llama.cpp's converter asserts it is unset)", ErrExport, v)
	}
	if f, ok, err := m.h.findFloat("final_logit_softcapping"); err != nil {
		return err
	} else if ok && f != 0 {
		m.f32("final_logit_softcapping", f)
	}
	if v := m.h.m["sliding_window_pattern"]; !(v != nil && fmt.Sprint(v) == "1") {
		if err := m.reqU32("attention.sliding_window", "sliding_window"); err != nil {
			return err
		}
	}
	kv, err := intOr("num_key_value_heads", 4)
	if err != nil {
		return err
	}
	return m.u32("attention.head_count_kv", kv)
}

func phi3Params(m *metaWriter) error {
	nEmbd, err := m.h.reqU32("hidden_size", "n_embd")
	if err != nil {
		return err
	}
	nHead, err := m.h.reqU32("num_attention_heads", "n_head")
	if err != nil {
		return err
	}
	if nHead <= 0 {
		return fmt.Errorf("%w: num_attention_heads is %d", ErrExport, nHead)
	}
	rp := m.rope.top()
	orig, ok, err := rp.u32("original_max_position_embeddings")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: phi3 needs original_max_position_embeddings", ErrExport)
	}
	rot, err := rp.floatOr("partial_rotary_factor", 1.0)
	if err != nil {
		return err
	}
	ropeDims := int64(math.Trunc(rot*float64(nEmbd))) / nHead
	if err := m.reqU32("context_length", "n_positions", "max_position_embeddings"); err != nil {
		return err
	}
	if err := m.u32("rope.scaling.original_context_length", orig); err != nil {
		return err
	}
	if err := m.u32("embedding_length", nEmbd); err != nil {
		return err
	}
	if err := m.reqU32("feed_forward_length", "intermediate_size"); err != nil {
		return err
	}
	if err := m.u32("block_count", m.blockCount); err != nil {
		return err
	}
	if err := m.u32("attention.head_count", nHead); err != nil {
		return err
	}
	if err := m.reqU32("attention.head_count_kv", "num_key_value_heads", "n_head_kv"); err != nil {
		return err
	}
	if err := m.reqF32("attention.layer_norm_rms_epsilon", "rms_norm_eps"); err != nil {
		return err
	}
	if err := m.u32("rope.dimension_count", ropeDims); err != nil {
		return err
	}
	theta, ok, err := m.rope.float("rope_theta")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: phi3 needs rope_theta", ErrExport)
	}
	m.f32("rope.freq_base", theta)
	m.set("general.file_type", gguf.Uint32(uint32(m.ftype)))
	sw := int64(0)
	if n, ok, err := m.h.findU32("sliding_window"); err != nil {
		return err
	} else if ok {
		sw = n
	}
	return m.u32("attention.sliding_window", sw)
}

// ---- generated tensors (generate_extra_tensors)

// extraTensor is a small F32 tensor computed from the config.
type extraTensor struct {
	name   string
	values []float32
}

// extraTensors returns the generated tensors of the architecture and the
// KVs the converter writes while generating them (before general.type).
func (a *archInfo) extraTensors(h *hparams, rope *ropeParams) ([]extraTensor, []gguf.KV, error) {
	switch a.gguf {
	case "llama":
		t, err := rope.ropeType()
		if err != nil {
			return nil, nil, err
		}
		if strings.ToLower(t) != "llama3" {
			return nil, nil, nil
		}
		f, err := llama3RopeFreqs(h, rope)
		if err != nil {
			return nil, nil, err
		}
		return []extraTensor{{"rope_freqs.weight", f}}, nil, nil
	case "phi3":
		return phi3RopeFactors(h, rope)
	}
	return nil, nil, nil
}

// llama3RopeFreqs computes LlamaModel's rope_freqs with torch float32
// arithmetic (x/y on a tensor by a Python number is a float32 operation;
// number/tensor is tensor.reciprocal() * number).
func llama3RopeFreqs(h *hparams, rope *ropeParams) ([]float32, error) {
	var vals [5]float64
	for i, k := range []struct {
		key string
		def float64
	}{{"rope_theta", 10000.0}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}} {
		f, err := rope.floatOr(k.key, k.def)
		if err != nil {
			return nil, err
		}
		vals[i] = f
	}
	base, factor, low, high, old := vals[0], vals[1], vals[2], vals[3], vals[4]
	dim, err := ropeDim(h)
	if err != nil {
		return nil, err
	}
	if dim <= 0 || dim > 1<<20 {
		return nil, fmt.Errorf("%w: rope dimension %d", ErrExport, dim)
	}
	lowWavelen := old / low
	highWavelen := old / high
	twoPi := float32(2 * math.Pi)
	out := make([]float32, 0, (dim+1)/2)
	for i := int64(0); i < dim; i += 2 {
		x := float32(i) / float32(dim)
		p := float32(math.Pow(float64(float32(base)), float64(x)))
		freq := 1 / p
		wavelen := (1 / freq) * twoPi
		switch {
		case wavelen < float32(highWavelen):
			out = append(out, 1)
		case wavelen > float32(lowWavelen):
			out = append(out, float32(factor))
		default:
			// The product is rounded before the subtraction, as torch's
			// separate ops do (float32() keeps arm64 from fusing them).
			smooth := (float32((1/wavelen)*float32(old)) - float32(low)) / float32(high-low)
			d := (1-smooth)/float32(factor) + smooth
			out = append(out, 1/d)
		}
	}
	return out, nil
}

// phi3RopeFactors is Phi3MiniModel.generate_extra_tensors.
func phi3RopeFactors(h *hparams, rope *ropeParams) ([]extraTensor, []gguf.KV, error) {
	rp := rope.top()
	lf, err := rp.floats("long_factor")
	if err != nil || len(lf) == 0 {
		return nil, nil, err
	}
	nEmbd, err := h.reqU32("hidden_size", "n_embd")
	if err != nil {
		return nil, nil, err
	}
	nHead, err := h.reqU32("num_attention_heads", "n_head")
	if err != nil {
		return nil, nil, err
	}
	if nHead <= 0 {
		return nil, nil, fmt.Errorf("%w: phi3 needs num_attention_heads", ErrExport)
	}
	maxPos, err := h.reqU32("n_positions", "max_position_embeddings")
	if err != nil {
		return nil, nil, err
	}
	orig, ok, err := rp.u32("original_max_position_embeddings")
	if err != nil {
		return nil, nil, err
	}
	if !ok || orig <= 0 {
		return nil, nil, fmt.Errorf("%w: phi3 needs original_max_position_embeddings", ErrExport)
	}
	rot, err := rp.floatOr("partial_rotary_factor", 1.0)
	if err != nil {
		return nil, nil, err
	}
	ropeDims := int64(math.Trunc(rot*float64(nEmbd))) / nHead
	scale := float64(maxPos) / float64(orig)
	t, err := rp.ropeType()
	if err != nil {
		return nil, nil, err
	}
	t = strings.ToLower(t)
	var attn float64
	switch t {
	case "":
		return nil, nil, fmt.Errorf("%w: phi3 rope_scaling has no type", ErrExport)
	case "su", "longrope":
		attn = 1
		if scale > 1 {
			attn = math.Sqrt(1 + math.Log(scale)/math.Log(float64(orig)))
		}
	case "yarn":
		attn = 1
		if scale > 1 {
			attn = float64(0.1*math.Log(scale)) + 1 // Python rounds the product: no FMA
		}
	default:
		return nil, nil, fmt.Errorf("%w: phi3 rope scaling type %q is not supported", ErrExport, t)
	}
	kvs := []gguf.KV{{Key: "phi3.rope.scaling.attn_factor", Value: gguf.Float32(float32(attn))}}
	sf, err := rp.floats("short_factor")
	if err != nil {
		return nil, nil, err
	}
	if sf == nil {
		return nil, nil, fmt.Errorf("%w: phi3 rope_scaling has no short_factor", ErrExport)
	}
	if len(lf) != len(sf) || float64(len(lf)) != float64(ropeDims)/2 {
		return nil, nil, fmt.Errorf("%w: phi3 rope factors: long %d, short %d, want %g", ErrExport, len(lf), len(sf), float64(ropeDims)/2)
	}
	return []extraTensor{{"rope_factors_long.weight", lf}, {"rope_factors_short.weight", sf}}, kvs, nil
}
