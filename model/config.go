package model

import (
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// Config gives typed read access to a config.json object with the
// semantics of mlx-lm's ModelArgs dataclasses: a missing key takes the
// field's default, a required field without a default is an error, and
// JSON null is Python's None.
type Config struct {
	obj   *pyjson.Object
	where string // "config.json" or "config.json text_config", for errors
}

func NewConfig(o *pyjson.Object, where string) Config {
	if o == nil {
		o = pyjson.NewObject()
	}
	return Config{obj: o, where: where}
}

func (c Config) Errf(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %q %s", ErrConfig, c.where, key, fmt.Sprintf(format, args...))
}

// Value returns the raw value of key and whether it is present and not null.
func (c Config) Value(key string) (pyjson.Value, bool) {
	v, ok := c.obj.Get(key)
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

// Has reports whether key is present and not null.
func (c Config) Has(key string) bool { _, ok := c.Value(key); return ok }

// maxDim bounds every size read from a config so that products of a few of
// them cannot overflow (2^31 elements per dimension is far beyond any model).
const maxDim = 1 << 31

// OptInt returns the integer at key; ok is false when the key is absent or
// null. A non-integer or out-of-range value is an error.
func (c Config) OptInt(key string) (v int, ok bool, err error) {
	raw, present := c.Value(key)
	if !present {
		return 0, false, nil
	}
	n, isNum := raw.(pyjson.Number)
	if !isNum {
		return 0, false, c.Errf(key, "is %s, want an integer", Describe(raw))
	}
	i, isInt := n.Int64()
	if !isInt {
		return 0, false, c.Errf(key, "is %s, want an integer", string(n))
	}
	if i < 0 || i > maxDim {
		return 0, false, c.Errf(key, "is %d, out of range", i)
	}
	return int(i), true, nil
}

// ReqInt returns the integer at key, which must be present.
func (c Config) ReqInt(key string) (int, error) {
	v, ok, err := c.OptInt(key)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, c.Errf(key, "is missing (required)")
	}
	return v, nil
}

// PosInt returns a required integer that must be positive.
func (c Config) PosInt(key string) (int, error) {
	v, err := c.ReqInt(key)
	if err == nil && v <= 0 {
		err = c.Errf(key, "is %d, want a positive integer", v)
	}
	return v, err
}

// IntOr returns the integer at key, or def when absent or null.
func (c Config) IntOr(key string, def int) (int, error) {
	v, ok, err := c.OptInt(key)
	if err != nil || !ok {
		return def, err
	}
	return v, nil
}

// BoolOr returns Python's truth value of key: def when absent, false for
// null, the value of a bool, non-zero for a number.
func (c Config) BoolOr(key string, def bool) (bool, error) {
	raw, present := c.obj.Get(key)
	if !present {
		return def, nil
	}
	switch x := raw.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case pyjson.Number:
		f, err := x.Float64()
		if err != nil {
			return false, c.Errf(key, "is %s, want a bool", string(x))
		}
		return f != 0, nil
	}
	return false, c.Errf(key, "is %s, want a bool", Describe(raw))
}

// Str returns the string at key ("" and false when absent, null or not a
// string).
func (c Config) Str(key string) (string, bool) {
	raw, ok := c.Value(key)
	if !ok {
		return "", false
	}
	s, ok := raw.(string)
	return s, ok
}

// Object returns the object at key, or nil.
func (c Config) Object(key string) *pyjson.Object {
	raw, ok := c.Value(key)
	if !ok {
		return nil
	}
	o, _ := raw.(*pyjson.Object)
	return o
}

// IntList returns the list of integers at key (nil when absent or null).
func (c Config) IntList(key string) ([]int, error) {
	raw, ok := c.Value(key)
	if !ok {
		return nil, nil
	}
	list, isList := raw.([]pyjson.Value)
	if !isList {
		return nil, c.Errf(key, "is %s, want a list of integers", Describe(raw))
	}
	out := make([]int, 0, len(list))
	for _, e := range list {
		n, isNum := e.(pyjson.Number)
		i, isInt := n.Int64()
		if !isNum || !isInt || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, c.Errf(key, "holds %s, want integers", Describe(e))
		}
		out = append(out, int(i))
	}
	return out, nil
}

// ListLen returns the length of the list at key (ok false when absent or
// null).
func (c Config) ListLen(key string) (int, bool, error) {
	raw, ok := c.Value(key)
	if !ok {
		return 0, false, nil
	}
	list, isList := raw.([]pyjson.Value)
	if !isList {
		return 0, false, c.Errf(key, "is %s, want a list", Describe(raw))
	}
	return len(list), true, nil
}

// Describe names a JSON value's type for error messages.
func Describe(v pyjson.Value) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case string:
		return fmt.Sprintf("the string %q", truncate(x, 40))
	case pyjson.Number:
		return string(x)
	case []pyjson.Value:
		return "a list"
	case *pyjson.Object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// CloneValue deep-copies a pyjson value.
func CloneValue(v pyjson.Value) pyjson.Value {
	switch x := v.(type) {
	case *pyjson.Object:
		o := pyjson.NewObject()
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			o.Set(k, CloneValue(e))
		}
		return o
	case []pyjson.Value:
		out := make([]pyjson.Value, len(x))
		for i, e := range x {
			out[i] = CloneValue(e)
		}
		return out
	}
	return v
}

// Truthy reports Python's truth value of a JSON value.
func Truthy(v pyjson.Value) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case pyjson.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case []pyjson.Value:
		return len(x) > 0
	case *pyjson.Object:
		return x.Len() > 0
	}
	return true
}

// ParseObject parses JSON that must be an object.
func ParseObject(b []byte) (*pyjson.Object, error) {
	v, err := pyjson.Parse(b)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", pyjson.ErrSyntax)
	}
	return o, nil
}

// Present reports whether key is in the object, null included (a
// dataclass field given as None is present).
func (c Config) Present(key string) bool { _, ok := c.obj.Get(key); return ok }

// Obj returns the underlying object.
func (c Config) Obj() *pyjson.Object { return c.obj }
