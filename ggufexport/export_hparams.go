package ggufexport

import (
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// hparams is config.json as convert_hf_to_gguf.py sees it: the object
// transformers' AutoConfig builds and to_dict() returns (the defaults of
// the config class filled in for the keys the exporter reads), with
// text_config's keys over the root's ({**hparams, **text_config}).
type hparams struct {
	m map[string]pyjson.Value
	// text names the keys that came from text_config, so that errors name
	// the config field as written ("text_config.rope_theta").
	text map[string]bool
}

// configDefaults are transformers 4.57's config class defaults for the keys
// the exporter reads, per model_type (applied when the key is absent).
var configDefaults = map[string]map[string]any{
	"llama":       {"max_position_embeddings": 2048, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil},
	"mistral":     {"max_position_embeddings": 131072, "num_key_value_heads": 8, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "head_dim": nil, "sliding_window": 4096},
	"mixtral":     {"max_position_embeddings": 131072, "num_key_value_heads": 8, "rope_theta": 1e6, "rms_norm_eps": 1e-5, "head_dim": nil, "sliding_window": nil, "num_local_experts": 8, "num_experts_per_tok": 2},
	"qwen2":       {"max_position_embeddings": 32768, "num_key_value_heads": 32, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil},
	"qwen3":       {"max_position_embeddings": 32768, "num_key_value_heads": 32, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil, "head_dim": 128},
	"qwen2_moe":   {"max_position_embeddings": 32768, "num_key_value_heads": 16, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil, "num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632},
	"qwen3_moe":   {"max_position_embeddings": 32768, "num_key_value_heads": 4, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "rope_scaling": nil, "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768},
	"phi3":        {"max_position_embeddings": 4096, "original_max_position_embeddings": 4096, "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "rope_scaling": nil, "partial_rotary_factor": 1.0, "sliding_window": nil},
	"gemma":       {"max_position_embeddings": 8192, "num_key_value_heads": 16, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "head_dim": 256},
	"gemma2":      {"max_position_embeddings": 8192, "num_key_value_heads": 4, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "head_dim": 256, "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0},
	"gemma3_text": {"max_position_embeddings": 131072, "num_key_value_heads": 4, "rope_theta": 1e6, "rope_local_base_freq": 10000.0, "rms_norm_eps": 1e-6, "head_dim": 256, "sliding_window": 4096, "attn_logit_softcapping": nil, "final_logit_softcapping": nil, "rope_scaling": nil, "vocab_size": 262208},
}

// kvNullIsHeads lists the config classes that replace a null
// num_key_value_heads with num_attention_heads.
var kvNullIsHeads = map[string]bool{"llama": true, "mistral": true, "mixtral": true, "qwen2": true, "qwen3": true, "phi3": true}

func pyValue(v any) pyjson.Value {
	switch x := v.(type) {
	case nil:
		return nil
	case int:
		return pyjson.Int(int64(x))
	case float64:
		return pyjson.Float(x)
	}
	return v
}

// newHParams builds the hyperparameters from config.json.
func newHParams(cfg *pyjson.Object) *hparams {
	mt, _ := stringOf(cfg, "model_type")
	root := objMap(cfg)
	fromText := map[string]bool{}
	if tc, ok := root["text_config"].(*pyjson.Object); ok {
		for _, k := range tc.Keys() {
			fromText[k] = true
		}
		tt, ok := stringOf(tc, "model_type")
		if !ok && mt == "gemma3" {
			tt = "gemma3_text"
		}
		text := objMap(tc)
		applyDefaults(tt, text)
		for k, v := range text {
			root[k] = v
		}
	} else {
		applyDefaults(mt, root)
	}
	return &hparams{m: root, text: fromText}
}

// objMap copies the top level of o into a map.
func objMap(o *pyjson.Object) map[string]pyjson.Value {
	m := make(map[string]pyjson.Value, o.Len())
	for _, k := range o.Keys() {
		m[k], _ = o.Get(k)
	}
	return m
}

// applyDefaults fills m (a config dict) with the defaults of model type mt,
// including the derived ones (head_dim, num_key_value_heads, the Qwen
// sliding window). Nested objects are not modified.
func applyDefaults(mt string, m map[string]pyjson.Value) {
	for k, v := range configDefaults[mt] {
		if _, ok := m[k]; !ok {
			m[k] = pyValue(v)
		}
	}
	heads, headsOK := hpInt(m["num_attention_heads"])
	kv, present := m["num_key_value_heads"]
	switch {
	case (!present || kv == nil) && kvNullIsHeads[mt] && headsOK && (mt == "llama" || mt == "phi3" || present):
		m["num_key_value_heads"] = pyjson.Int(heads)
	}
	if mt == "llama" {
		if hd, ok := m["head_dim"]; !ok || hd == nil {
			if hidden, ok := hpInt(m["hidden_size"]); ok && headsOK && heads != 0 {
				m["head_dim"] = pyjson.Int(hidden / heads)
			}
		}
	}
	switch mt {
	case "qwen2", "qwen3", "qwen2_moe", "qwen3_moe":
		if use, _ := m["use_sliding_window"].(bool); !use {
			m["sliding_window"] = nil
		}
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
// hparams".
func (h *hparams) has(key string) bool { _, ok := h.m[key]; return ok }

// get returns the value of key and whether it is present and not null
// (Python's hparams.get(key) is not None).
func (h *hparams) get(key string) (pyjson.Value, bool) {
	v, ok := h.m[key]
	return v, ok && v != nil
}

// find returns the value of the first present key (find_hparam: a present
// null stops the search) and whether it is not null.
func (h *hparams) find(keys ...string) (pyjson.Value, string, bool) {
	for _, k := range keys {
		if v, ok := h.m[k]; ok {
			return v, k, v != nil
		}
	}
	return nil, "", false
}

// field names key as it is written in config.json, for errors.
func (h *hparams) field(key string) string {
	if h.text[key] {
		return "text_config." + key
	}
	return key
}

// configError reports a config.json value of the wrong type or range for
// what the export reads from it, naming the config field (not the GGUF key
// it would have filled).
func configError(field, want string, v pyjson.Value) error {
	return fmt.Errorf("%w: config.json: %q: want %s, got %s", ErrExport, field, want, describeJSON(v))
}

// describeJSON names a JSON value and its type for errors.
func describeJSON(v pyjson.Value) string {
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
func (h *hparams) findInt(keys ...string) (int64, bool, error) {
	v, k, ok := h.find(keys...)
	if !ok {
		return 0, false, nil
	}
	n, isInt := hpInt(v)
	if !isInt {
		return 0, false, configError(h.field(k), "an integer", v)
	}
	return n, true, nil
}

// findU32 reads an integer a GGUF UINT32 holds.
func (h *hparams) findU32(keys ...string) (int64, bool, error) {
	v, k, ok := h.find(keys...)
	if !ok {
		return 0, false, nil
	}
	n, isInt := hpInt(v)
	if !isInt || n < 0 || n > math.MaxUint32 {
		return 0, false, configError(h.field(k), "an integer in [0, 4294967295]", v)
	}
	return n, true, nil
}

// findFloat reads a number.
func (h *hparams) findFloat(keys ...string) (float64, bool, error) {
	v, k, ok := h.find(keys...)
	if !ok {
		return 0, false, nil
	}
	f, isNum := pyFloat(v)
	if !isNum {
		return 0, false, configError(h.field(k), "a number", v)
	}
	return f, true, nil
}

// findString reads a string.
func (h *hparams) findString(keys ...string) (string, bool, error) {
	v, k, ok := h.find(keys...)
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, configError(h.field(k), "a string", v)
	}
	return s, true, nil
}

// findBool reads a bool.
func (h *hparams) findBool(keys ...string) (bool, bool, error) {
	v, k, ok := h.find(keys...)
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, false, configError(h.field(k), "a bool", v)
	}
	return b, true, nil
}

// reqInt is findInt for a key that must be present.
func (h *hparams) reqInt(keys ...string) (int64, error) {
	n, ok, err := h.findInt(keys...)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: config.json has none of %q", ErrExport, keys)
	}
	return n, nil
}

// reqU32 is findU32 for a key that must be present.
func (h *hparams) reqU32(keys ...string) (int64, error) {
	n, ok, err := h.findU32(keys...)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: config.json has none of %q", ErrExport, keys)
	}
	return n, nil
}

// hpInt reads a JSON integer (Python int; a bool counts as one).
func hpInt(v any) (int64, bool) {
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

func pyFloat(v any) (float64, bool) {
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
func u32(key string, n int64) (gguf.Value, error) {
	if n < 0 || n > math.MaxUint32 {
		return gguf.Value{}, fmt.Errorf("%w: %s = %d does not fit UINT32", ErrExport, key, n)
	}
	return gguf.Uint32(uint32(n)), nil
}

func objString(o *pyjson.Object, key string) (string, bool) {
	if o == nil {
		return "", false
	}
	return stringOf(o, key)
}
