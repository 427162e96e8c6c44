package model

import (
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// Meta collects KVs with gguf-py's GGUFWriter semantics (setting an
// existing key replaces its value in place) for one architecture.
type Meta struct {
	Arch     string
	H        *HParams
	KVs      KVList
	FileType gguf.FileType
	Rope     *Rope
	// blockCount is the text model's layer count.
	BlockCount int64
	// Has reports whether the exported model has parameter name (its MLX
	// name after the sanitize, e.g. "model.layers.3.eh_proj.weight"): for
	// KVs that follow what the input holds rather than the config. nil
	// reports false.
	Has func(name string) bool
}

// HasParam is m.Has(name), false when m.Has is nil.
func (m *Meta) HasParam(name string) bool { return m.Has != nil && m.Has(name) }

func (m *Meta) Set(key string, v gguf.Value) { m.KVs.Set(key, v) }

func (m *Meta) ArchKey(suffix string) string { return m.Arch + "." + suffix }

func (m *Meta) U32(suffix string, n int64) error {
	v, err := U32Value(m.ArchKey(suffix), n)
	if err != nil {
		return err
	}
	m.Set(m.ArchKey(suffix), v)
	return nil
}

func (m *Meta) F32(suffix string, f float64) {
	m.Set(m.ArchKey(suffix), gguf.NewValue(float32(f)))
}

// optU32 writes the first present, non-null key of keys as UINT32.
func (m *Meta) OptU32(suffix string, keys ...string) error {
	n, ok, err := m.H.FindU32(keys...)
	if err != nil || !ok {
		return err
	}
	return m.U32(suffix, n)
}

// OptLengths is OptU32 that writes a list of integers (one per layer) as
// an INT32 array, as gguf-py's add_feed_forward_length does.
func (m *Meta) OptLengths(suffix string, keys ...string) error {
	v, k, ok := m.H.Find(keys...)
	list, isList := v.([]pyjson.Value)
	if !ok || !isList {
		return m.OptU32(suffix, keys...)
	}
	arr := make([]int32, len(list))
	for i, e := range list {
		n, isInt := HPInt(e)
		if !isInt || n < math.MinInt32 || n > math.MaxInt32 {
			return ConfigError(m.H.Field(k), "a list of 32-bit integers", v)
		}
		arr[i] = int32(n)
	}
	m.Set(m.ArchKey(suffix), gguf.NewValue(arr))
	return nil
}

func (m *Meta) OptF32(suffix string, keys ...string) error {
	f, ok, err := m.H.FindFloat(keys...)
	if err != nil || !ok {
		return err
	}
	m.F32(suffix, f)
	return nil
}

// reqU32 writes a required integer.
func (m *Meta) ReqU32(suffix string, keys ...string) error {
	n, err := m.H.ReqU32(keys...)
	if err != nil {
		return err
	}
	return m.U32(suffix, n)
}

func (m *Meta) ReqF32(suffix string, keys ...string) error {
	f, ok, err := m.H.FindFloat(keys...)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: config.json has none of %q", ErrExport, keys)
	}
	m.F32(suffix, f)
	return nil
}

// Rope is TextModel's rope_parameters: config rope_parameters or
// rope_scaling with rope_theta, the sliding-window theta, rope_type (from
// "type"), partial_rotary_factor and original_max_position_embeddings
// mirrored in.
type Rope struct {
	m       map[string]pyjson.Value
	Sliding *float64 // sliding_attention.rope_theta
	full    map[string]pyjson.Value
	// field names where each key of m (and full) came from in config.json.
	field, fullField map[string]string
}

func NewRope(h *HParams) (*Rope, error) {
	rp := &Rope{m: map[string]pyjson.Value{}, field: map[string]string{}}
	srcKey := "rope_parameters"
	src, ok := h.m[srcKey]
	if !ok {
		srcKey = "rope_scaling"
		src = h.m[srcKey]
	}
	srcField := h.Field(srcKey)
	if o, ok := src.(*pyjson.Object); ok {
		rp.m = ObjMap(o)
		for k := range rp.m {
			rp.field[k] = srcField + "." + k
		}
	} else if src != nil {
		return nil, ConfigError(srcField, "an object", src)
	}
	if err := rp.readFullAttention(srcField); err != nil {
		return nil, err
	}
	if err := rp.readSlidingAttention(srcField); err != nil {
		return nil, err
	}
	_, hasFull := rp.m["full_attention"]
	_, hasSliding := rp.m["sliding_attention"]
	if !hasFull && !hasSliding {
		if err := rp.mirrorFlat(h); err != nil {
			return nil, err
		}
	}
	return rp, nil
}

// readFullAttention reads the full_attention sub-object, if any.
func (rp *Rope) readFullAttention(srcField string) error {
	fa, ok := rp.m["full_attention"]
	if !ok || fa == nil {
		return nil
	}
	o, isObj := fa.(*pyjson.Object)
	if !isObj {
		return ConfigError(rp.field["full_attention"], "an object", fa)
	}
	rp.full, rp.fullField = ObjMap(o), map[string]string{}
	for k := range rp.full {
		rp.fullField[k] = srcField + ".full_attention." + k
	}
	return nil
}

// readSlidingAttention reads sliding_attention.rope_theta, if any.
func (rp *Rope) readSlidingAttention(srcField string) error {
	sa, ok := rp.m["sliding_attention"]
	if !ok || sa == nil {
		return nil
	}
	o, isObj := sa.(*pyjson.Object)
	if !isObj {
		return ConfigError(rp.field["sliding_attention"], "an object", sa)
	}
	v, ok := o.Get("rope_theta")
	if !ok || v == nil {
		return nil
	}
	f, isNum := PyFloat(v)
	if !isNum {
		return ConfigError(srcField+".sliding_attention.rope_theta", "a number", v)
	}
	rp.Sliding = &f
	return nil
}

// mirrorFlat fills a rope without per-attention-kind parameters from the
// flat config keys: the sliding-window theta, rope_theta, rope_type (from
// "type"), partial_rotary_factor and original_max_position_embeddings.
func (rp *Rope) mirrorFlat(h *HParams) error {
	f, ok, err := h.FindFloat("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq")
	if err != nil {
		return err
	}
	if ok {
		rp.Sliding = &f
	}
	rp.mirror(h, "rope_theta", "global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base")
	if _, ok := rp.m["rope_type"]; !ok {
		if t, ok := rp.m["type"]; ok && t != nil {
			rp.m["rope_type"], rp.field["rope_type"] = t, rp.field["type"]
		}
	}
	rp.mirror(h, "partial_rotary_factor", "partial_rotary_factor", "rope_pct", "rope_percent")
	rp.mirror(h, "original_max_position_embeddings", "original_max_position_embeddings")
	return nil
}

// mirror sets key, when absent, from the first present config key of keys.
func (rp *Rope) mirror(h *HParams, key string, keys ...string) {
	if _, ok := rp.m[key]; ok {
		return
	}
	if v, k, ok := h.Find(keys...); ok {
		rp.m[key], rp.field[key] = v, h.Field(k)
	}
}

// params returns rope_parameters["full_attention"] or rope_parameters,
// and the config field names of its keys.
func (r *Rope) Params() (map[string]pyjson.Value, map[string]string) {
	if r.full != nil {
		return r.full, r.fullField
	}
	return r.m, r.field
}

// get returns the value of key (ok false when absent or null) and its
// config field name.
func (r *Rope) Get(key string) (pyjson.Value, string, bool) {
	m, field := r.Params()
	v, ok := m[key]
	return v, field[key], ok && v != nil
}

// str reads a string; another type is an error naming the config field.
func (r *Rope) Str(key string) (string, bool, error) {
	v, field, ok := r.Get(key)
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, ConfigError(field, "a string", v)
	}
	return s, true, nil
}

// float reads a number; another type is an error naming the config field.
func (r *Rope) Float(key string) (float64, bool, error) {
	v, field, ok := r.Get(key)
	if !ok {
		return 0, false, nil
	}
	f, isNum := PyFloat(v)
	if !isNum {
		return 0, false, ConfigError(field, "a number", v)
	}
	return f, true, nil
}

// floatOr is float with a default for an absent key.
func (r *Rope) FloatOr(key string, def float64) (float64, error) {
	f, ok, err := r.Float(key)
	if err != nil || !ok {
		return def, err
	}
	return f, nil
}

// u32 reads an integer a GGUF UINT32 holds.
func (r *Rope) U32(key string) (int64, bool, error) {
	v, field, ok := r.Get(key)
	if !ok {
		return 0, false, nil
	}
	n, isInt := HPInt(v)
	if !isInt || n < 0 || n > math.MaxUint32 {
		return 0, false, ConfigError(field, "an integer in [0, 4294967295]", v)
	}
	return n, true, nil
}

// floats reads a list of numbers (nil when absent or null).
func (r *Rope) Floats(key string) ([]float32, error) {
	v, field, ok := r.Get(key)
	if !ok {
		return nil, nil
	}
	list, isList := v.([]pyjson.Value)
	if !isList {
		return nil, ConfigError(field, "a list of numbers", v)
	}
	out := make([]float32, len(list))
	for i, e := range list {
		f, isNum := PyFloat(e)
		if !isNum {
			return nil, ConfigError(fmt.Sprintf("%s[%d]", field, i), "a number", e)
		}
		out[i] = float32(f)
	}
	return out, nil
}

// top is r without the full_attention view: rope_parameters itself.
func (r *Rope) Top() *Rope {
	c := *r
	c.full, c.fullField = nil, nil
	return &c
}

// ropeType returns the rope type ("" when none).
func (r *Rope) RopeType() (string, error) {
	s, _, err := r.Str("rope_type")
	return s, err
}

// Steps runs steps in order and returns the first error, skipping the
// rest: a list of KV writes that each may fail.
func Steps(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// textParams is TextModel.set_gguf_parameters.
func TextParams(m *Meta) error {
	err := Steps(
		func() error { return m.U32("block_count", m.BlockCount) },
		func() error {
			return m.OptU32("context_length", "max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length")
		},
		func() error { return m.OptU32("embedding_length", "hidden_size", "n_embd", "dim") },
		func() error {
			return m.OptLengths("feed_forward_length", "prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim")
		},
		func() error { return m.OptU32("attention.head_count", "num_attention_heads", "n_head", "n_heads") },
		func() error { return m.OptU32("attention.head_count_kv", "num_key_value_heads", "n_kv_heads") },
		m.causalParam,
		m.ropeScalingParams,
		m.ropeThetaParams,
		func() error { return m.OptF32("attention.layer_norm_rms_epsilon", "rms_norm_eps", "norm_eps") },
		func() error {
			return m.OptF32("attention.layer_norm_epsilon", "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")
		},
		func() error { return m.OptU32("expert_count", "num_local_experts", "num_experts", "n_routed_experts") },
		func() error {
			return m.OptU32("expert_used_count", "num_experts_per_tok", "num_experts_per_token", "top_k_experts")
		},
		func() error { return m.OptU32("expert_group_count", "n_group") },
		func() error { return m.OptU32("expert_group_used_count", "topk_group") },
		m.expertGatingParam,
		m.headDimParams,
	)
	if err != nil {
		return err
	}
	m.Set("general.file_type", gguf.NewValue(uint32(m.FileType)))
	return nil
}

// causalParam writes attention.causal false for a non-causal model.
func (m *Meta) causalParam() error {
	causal, ok, err := m.H.FindBool("is_causal")
	if err != nil {
		return err
	}
	if ok && !causal {
		m.Set(m.ArchKey("attention.causal"), gguf.NewValue(false))
	}
	return nil
}

// ropeScalingParams writes the rope.scaling KVs of a linear, yarn or
// longrope rope type.
func (m *Meta) ropeScalingParams() error {
	t, err := m.Rope.RopeType()
	if err != nil || t == "" {
		return err
	}
	factor, hasFactor, err := m.Rope.Float("factor")
	if err != nil {
		return err
	}
	switch {
	case t == "linear" && hasFactor:
		m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("linear"))
		m.F32("rope.scaling.factor", factor)
	case t == "yarn" && hasFactor:
		m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("yarn"))
		m.F32("rope.scaling.factor", factor)
		return m.yarnParams()
	case t == "su" || t == "longrope":
		m.Set(m.ArchKey("rope.scaling.type"), gguf.NewValue("longrope"))
	}
	return nil
}

// yarnParams writes the yarn-only rope.scaling KVs.
func (m *Meta) yarnParams() error {
	orig, ok, err := m.Rope.U32("original_max_position_embeddings")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: yarn rope scaling without an integer original_max_position_embeddings", ErrExport)
	}
	if err := m.U32("rope.scaling.original_context_length", orig); err != nil {
		return err
	}
	attnKey := "attention_factor"
	if _, _, ok := m.Rope.Get(attnKey); !ok {
		attnKey = "attn_factor"
	}
	for _, y := range []struct{ suffix, key string }{
		{"rope.scaling.yarn_ext_factor", "extrapolation_factor"},
		{"rope.scaling.yarn_attn_factor", attnKey},
		{"rope.scaling.yarn_beta_fast", "beta_fast"},
		{"rope.scaling.yarn_beta_slow", "beta_slow"},
	} {
		f, ok, err := m.Rope.Float(y.key)
		if err != nil {
			return err
		}
		if ok {
			m.F32(y.suffix, f)
		}
	}
	return nil
}

// ropeThetaParams writes rope.freq_base and rope.freq_base_swa.
func (m *Meta) ropeThetaParams() error {
	f, ok, err := m.Rope.Float("rope_theta")
	if err != nil {
		return err
	}
	if ok {
		m.F32("rope.freq_base", f)
	}
	if m.Rope.Sliding != nil {
		m.F32("rope.freq_base_swa", *m.Rope.Sliding)
	}
	return nil
}

// expertGatingFuncs are the GGUF codes of the expert gating functions.
var expertGatingFuncs = map[string]uint32{"softmax": 1, "sigmoid": 2, "sqrtsoftplus": 4}

// expertGatingParam writes expert_gating_func.
func (m *Meta) expertGatingParam() error {
	v, ok, err := m.H.FindString("score_function", "scoring_func", "score_func", "moe_router_activation", "moe_router_activation_func", "expert_selection_fn")
	if err != nil || !ok {
		return err
	}
	fn := expertGatingFuncs[v]
	if fn == 0 {
		return fmt.Errorf("%w: unsupported expert gating function %q", ErrExport, v)
	}
	m.Set(m.ArchKey("expert_gating_func"), gguf.NewValue[uint32](fn))
	return nil
}

// headDimParams writes head_dim as the attention key and value lengths.
func (m *Meta) headDimParams() error {
	n, ok, err := m.H.FindU32("head_dim")
	if err != nil || !ok {
		return err
	}
	if err := m.U32("attention.key_length", n); err != nil {
		return err
	}
	return m.U32("attention.value_length", n)
}

// ropeDim returns head_dim, or hidden_size / num_attention_heads.
func RopeDim(h *HParams) (int64, error) {
	if n, ok, err := h.FindU32("head_dim"); err != nil || ok {
		return n, err
	}
	hidden, err := h.ReqU32("hidden_size")
	if err != nil {
		return 0, err
	}
	heads, err := h.ReqU32("num_attention_heads")
	if err != nil {
		return 0, err
	}
	if heads <= 0 {
		return 0, fmt.Errorf("%w: num_attention_heads is %d", ErrExport, heads)
	}
	return hidden / heads, nil
}

// ---- generated tensors (generate_extra_tensors)

// ExtraTensor is a small F32 tensor computed from the config.
type ExtraTensor struct {
	Name   string
	Values []float32
}
