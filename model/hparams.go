package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// HParams is config.json as convert_hf_to_gguf.py sees it: the object
// transformers' AutoConfig builds and to_dict() returns (the defaults of
// the config class filled in for the keys the exporter reads), with
// text_config's keys over the root's ({**HParams, **text_config}).
type HParams struct {
	m map[string]pyjson.Value
	// text names the keys that came from text_config, so that errors name
	// the config field as written ("text_config.rope_theta").
	text map[string]bool
}

func pyValue(v any) pyjson.Value {
	switch x := v.(type) {
	case nil:
		return nil
	case int:
		return pyjson.Int(int64(x))
	case float64:
		return pyjson.Float(x)
	case []any:
		l := make([]pyjson.Value, len(x))
		for i, e := range x {
			l[i] = pyValue(e)
		}
		return l
	}
	return v
}

// ConverterView returns a copy of cfg as llama.cpp's converter reads it,
// for the GGUF export to build the parameter tree from instead of the
// MLX side's requirements (mlx-lm's ModelArgs): the config class
// defaults c fills in where config.json has no key (transformers 4.57.6
// loads the config through its class), then each aliases key set to the
// first of its names that is present (TextModel.find_hparam order; a
// transformers-5 config writes qwen3_moe's num_experts as
// num_local_experts). A wrapper config (text_config) is returned
// unchanged; so is cfg when c is nil and there are no aliases.
func ConverterView(cfg *pyjson.Object, c *HFConfig, aliases map[string][]string) *pyjson.Object {
	if _, ok := cfg.Get("text_config"); ok || c == nil && len(aliases) == 0 {
		return cfg
	}
	m := ObjMap(cfg)
	raw := ObjMap(cfg)
	c.apply(m)
	out := CloneValue(cfg).(*pyjson.Object)
	for _, k := range sortedKeys(m) {
		if _, ok := out.Get(k); !ok {
			out.Set(k, m[k])
		}
	}
	for _, k := range sortedKeys(aliases) {
		for _, name := range aliases[k] {
			if v, ok := raw[name]; ok {
				out.Set(k, CloneValue(v))
				break
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// HFConfig is one transformers config class as the GGUF exporter sees it:
// the class defaults of the keys the exporter reads (applied when a key
// is absent), and the derived values its __init__ computes.
type HFConfig struct {
	Defaults map[string]any
	// KVHeads is when num_key_value_heads becomes num_attention_heads.
	KVHeads KVHeadsRule
	// HeadDimFromHidden: a missing or null head_dim is hidden_size /
	// num_attention_heads (LlamaConfig).
	HeadDimFromHidden bool
	// SlidingWindowFlag: sliding_window is None unless use_sliding_window
	// (the Qwen configs).
	SlidingWindowFlag bool
}

// KVHeadsRule is when a config class replaces num_key_value_heads by the
// head count.
type KVHeadsRule uint8

const (
	KVHeadsKept         KVHeadsRule = iota // never
	KVHeadsNull                            // when present and null
	KVHeadsNullOrAbsent                    // when absent or null
)

// NewHParams builds the hyperparameters from config.json. configOf
// returns the config class of a model_type (nil: none known); textType
// is the text_config model_type a wrapper implies when text_config has
// none ("" for none).
func NewHParams(cfg *pyjson.Object, configOf func(modelType string) *HFConfig, textType string) *HParams {
	mt, _ := stringOf(cfg, "model_type")
	root := ObjMap(cfg)
	fromText := map[string]bool{}
	if tc, ok := root["text_config"].(*pyjson.Object); ok {
		for _, k := range tc.Keys() {
			fromText[k] = true
		}
		tt, ok := stringOf(tc, "model_type")
		if !ok {
			tt = textType
		}
		text := ObjMap(tc)
		configOf(tt).apply(text)
		for k, v := range text {
			root[k] = v
		}
	} else {
		configOf(mt).apply(root)
	}
	return &HParams{m: root, text: fromText}
}

// ObjMap copies the top level of o into a map.
func ObjMap(o *pyjson.Object) map[string]pyjson.Value {
	m := make(map[string]pyjson.Value, o.Len())
	for _, k := range o.Keys() {
		m[k], _ = o.Get(k)
	}
	return m
}

// apply fills m (a config dict) with the defaults of c, including the
// derived ones (head_dim, num_key_value_heads, the Qwen sliding window).
// Nested objects are not modified. A nil c changes nothing.
func (c *HFConfig) apply(m map[string]pyjson.Value) {
	if c == nil {
		return
	}
	for k, v := range c.Defaults {
		if _, ok := m[k]; !ok {
			m[k] = pyValue(v)
		}
	}
	heads, headsOK := HPInt(m["num_attention_heads"])
	if headsOK {
		c.applyKVHeads(m, heads)
	}
	if c.HeadDimFromHidden && headsOK && heads != 0 {
		applyHeadDim(m, heads)
	}
	if c.SlidingWindowFlag {
		if use, _ := m["use_sliding_window"].(bool); !use {
			m["sliding_window"] = nil
		}
	}
}

// applyKVHeads sets a missing (per c.KVHeads) num_key_value_heads to the
// attention head count.
func (c *HFConfig) applyKVHeads(m map[string]pyjson.Value, heads int64) {
	kv, present := m["num_key_value_heads"]
	if present && kv != nil {
		return
	}
	switch {
	case c.KVHeads == KVHeadsNullOrAbsent, c.KVHeads == KVHeadsNull && present:
		m["num_key_value_heads"] = pyjson.Int(heads)
	}
}

// applyHeadDim sets an absent or null head_dim to hidden_size / heads.
func applyHeadDim(m map[string]pyjson.Value, heads int64) {
	if hd, ok := m["head_dim"]; ok && hd != nil {
		return
	}
	if hidden, ok := HPInt(m["hidden_size"]); ok {
		m["head_dim"] = pyjson.Int(hidden / heads)
	}
}

func stringOf(o *pyjson.Object, key string) (string, bool) {
	v, ok := o.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// has reports whether key is present (even as null), Python's "key in
// HParams".
func (h *HParams) Has(key string) bool { _, ok := h.m[key]; return ok }

// get returns the value of key and whether it is present and not null
// (Python's HParams.Get(key) is not None).
func (h *HParams) Get(key string) (pyjson.Value, bool) {
	v, ok := h.m[key]
	return v, ok && v != nil
}

// find returns the value of the first present key (find_hparam: a present
// null stops the search) and whether it is not null.
func (h *HParams) Find(keys ...string) (pyjson.Value, string, bool) {
	for _, k := range keys {
		if v, ok := h.m[k]; ok {
			return v, k, v != nil
		}
	}
	return nil, "", false
}

// field names key as it is written in config.json, for errors.
func (h *HParams) Field(key string) string {
	if h.text[key] {
		return "text_config." + key
	}
	return key
}

// configError reports a config.json value of the wrong type or range for
// what the export reads from it, naming the config field (not the GGUF key
// it would have filled).
func ConfigError(field, want string, v pyjson.Value) error {
	return fmt.Errorf("%w: config.json: %q: want %s, got %s", ErrExport, field, want, DescribeJSON(v))
}

// describeJSON names a JSON value and its type for errors.
func DescribeJSON(v pyjson.Value) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("bool %v", x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("string %q", x)
	case pyjson.Number:
		return "number " + string(x)
	case []pyjson.Value:
		return "a list"
	case *pyjson.Object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// The typed accessors below read the first present key of keys
// (find_hparam: a present null stops the search); ok is false when none is
// present or it is null. A value of the wrong type (or out of range) is an
// error naming the config field.

// findInt reads an integer.
func (h *HParams) FindInt(keys ...string) (int64, bool, error) {
	v, k, ok := h.Find(keys...)
	if !ok {
		return 0, false, nil
	}
	n, isInt := HPInt(v)
	if !isInt {
		return 0, false, ConfigError(h.Field(k), "an integer", v)
	}
	return n, true, nil
}

// findU32 reads an integer a GGUF UINT32 holds.
func (h *HParams) FindU32(keys ...string) (int64, bool, error) {
	v, k, ok := h.Find(keys...)
	if !ok {
		return 0, false, nil
	}
	n, isInt := HPInt(v)
	if !isInt || n < 0 || n > math.MaxUint32 {
		return 0, false, ConfigError(h.Field(k), "an integer in [0, 4294967295]", v)
	}
	return n, true, nil
}

// findFloat reads a number.
func (h *HParams) FindFloat(keys ...string) (float64, bool, error) {
	v, k, ok := h.Find(keys...)
	if !ok {
		return 0, false, nil
	}
	f, isNum := PyFloat(v)
	if !isNum {
		return 0, false, ConfigError(h.Field(k), "a number", v)
	}
	return f, true, nil
}

// findString reads a string.
func (h *HParams) FindString(keys ...string) (string, bool, error) {
	v, k, ok := h.Find(keys...)
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, ConfigError(h.Field(k), "a string", v)
	}
	return s, true, nil
}

// findBool reads a bool.
func (h *HParams) FindBool(keys ...string) (bool, bool, error) {
	v, k, ok := h.Find(keys...)
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, false, ConfigError(h.Field(k), "a bool", v)
	}
	return b, true, nil
}

// reqInt is findInt for a key that must be present.
func (h *HParams) ReqInt(keys ...string) (int64, error) {
	n, ok, err := h.FindInt(keys...)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: config.json has none of %q", ErrExport, keys)
	}
	return n, nil
}

// reqU32 is findU32 for a key that must be present.
func (h *HParams) ReqU32(keys ...string) (int64, error) {
	n, ok, err := h.FindU32(keys...)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: config.json has none of %q", ErrExport, keys)
	}
	return n, nil
}

// hpInt reads a JSON integer (Python int; a bool counts as one).
func HPInt(v any) (int64, bool) {
	switch x := v.(type) {
	case pyjson.Number:
		if !x.IsInt() {
			return 0, false
		}
		return x.Int64()
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

func PyFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case pyjson.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// u32 converts a config integer to a UINT32 value.
func U32Value(key string, n int64) (gguf.Value, error) {
	if n < 0 || n > math.MaxUint32 {
		return gguf.Value{}, fmt.Errorf("%w: %s = %d does not fit UINT32", ErrExport, key, n)
	}
	return gguf.NewValue(uint32(n)), nil
}

// Raw returns the value of key as stored (nil when absent or null).
func (h *HParams) Raw(key string) pyjson.Value { return h.m[key] }

// StringList returns the list of strings at key (ok false when absent or
// null; an error naming the field when it is anything but a list of
// strings).
func (h *HParams) StringList(key string) ([]string, bool, error) {
	v := h.Raw(key)
	if v == nil {
		return nil, false, nil
	}
	list, ok := v.([]pyjson.Value)
	if !ok {
		return nil, false, ConfigError(h.Field(key), "a list of strings", v)
	}
	out := make([]string, len(list))
	for i, e := range list {
		if out[i], ok = e.(string); !ok {
			return nil, false, ConfigError(h.Field(key), "a list of strings", v)
		}
	}
	return out, true, nil
}

// KVList is an insertion-ordered map with gguf-py's GGUFWriter semantics:
// setting an existing key replaces its value in place.
type KVList struct {
	List  []gguf.KV
	index map[string]int
}

func (l *KVList) Set(key string, v gguf.Value) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[key]; ok {
		l.List[i].Value = v
		return
	}
	l.index[key] = len(l.List)
	l.List = append(l.List, gguf.KV{Key: key, Value: v})
}

// Lookup returns the value of key.
func (l *KVList) Lookup(key string) (gguf.Value, bool) {
	i, ok := l.index[key]
	if !ok {
		return gguf.Value{}, false
	}
	return l.List[i].Value, true
}
