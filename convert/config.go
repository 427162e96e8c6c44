package convert

import (
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// config gives typed read access to a config.json object with the
// semantics of mlx-lm's ModelArgs dataclasses: a missing key takes the
// field's default, a required field without a default is an error, and
// JSON null is Python's None.
type config struct {
	obj   *pyjson.Object
	where string // "config.json" or "config.json text_config", for errors
}

func newConfig(o *pyjson.Object, where string) config {
	if o == nil {
		o = pyjson.NewObject()
	}
	return config{obj: o, where: where}
}

func (c config) errf(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %q %s", ErrConfig, c.where, key, fmt.Sprintf(format, args...))
}

// value returns the raw value of key and whether it is present and not null.
func (c config) value(key string) (pyjson.Value, bool) {
	v, ok := c.obj.Get(key)
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

// has reports whether key is present and not null.
func (c config) has(key string) bool { _, ok := c.value(key); return ok }

// maxDim bounds every size read from a config so that products of a few of
// them cannot overflow (2^31 elements per dimension is far beyond any model).
const maxDim = 1 << 31

// optInt returns the integer at key; ok is false when the key is absent or
// null. A non-integer or out-of-range value is an error.
func (c config) optInt(key string) (v int, ok bool, err error) {
	raw, present := c.value(key)
	if !present {
		return 0, false, nil
	}
	n, isNum := raw.(pyjson.Number)
	if !isNum {
		return 0, false, c.errf(key, "is %s, want an integer", describe(raw))
	}
	i, isInt := n.Int64()
	if !isInt {
		return 0, false, c.errf(key, "is %s, want an integer", string(n))
	}
	if i < 0 || i > maxDim {
		return 0, false, c.errf(key, "is %d, out of range", i)
	}
	return int(i), true, nil
}

// reqInt returns the integer at key, which must be present.
func (c config) reqInt(key string) (int, error) {
	v, ok, err := c.optInt(key)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, c.errf(key, "is missing (required)")
	}
	return v, nil
}

// posInt returns a required integer that must be positive.
func (c config) posInt(key string) (int, error) {
	v, err := c.reqInt(key)
	if err == nil && v <= 0 {
		err = c.errf(key, "is %d, want a positive integer", v)
	}
	return v, err
}

// intOr returns the integer at key, or def when absent or null.
func (c config) intOr(key string, def int) (int, error) {
	v, ok, err := c.optInt(key)
	if err != nil || !ok {
		return def, err
	}
	return v, nil
}

// boolOr returns Python's truth value of key: def when absent, false for
// null, the value of a bool, non-zero for a number.
func (c config) boolOr(key string, def bool) (bool, error) {
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
			return false, c.errf(key, "is %s, want a bool", string(x))
		}
		return f != 0, nil
	}
	return false, c.errf(key, "is %s, want a bool", describe(raw))
}

// str returns the string at key ("" and false when absent, null or not a
// string).
func (c config) str(key string) (string, bool) {
	raw, ok := c.value(key)
	if !ok {
		return "", false
	}
	s, ok := raw.(string)
	return s, ok
}

// object returns the object at key, or nil.
func (c config) object(key string) *pyjson.Object {
	raw, ok := c.value(key)
	if !ok {
		return nil
	}
	o, _ := raw.(*pyjson.Object)
	return o
}

// intList returns the list of integers at key (nil when absent or null).
func (c config) intList(key string) ([]int, error) {
	raw, ok := c.value(key)
	if !ok {
		return nil, nil
	}
	list, isList := raw.([]pyjson.Value)
	if !isList {
		return nil, c.errf(key, "is %s, want a list of integers", describe(raw))
	}
	out := make([]int, 0, len(list))
	for _, e := range list {
		n, isNum := e.(pyjson.Number)
		i, isInt := n.Int64()
		if !isNum || !isInt || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, c.errf(key, "holds %s, want integers", describe(e))
		}
		out = append(out, int(i))
	}
	return out, nil
}

// listLen returns the length of the list at key (ok false when absent or
// null).
func (c config) listLen(key string) (int, bool, error) {
	raw, ok := c.value(key)
	if !ok {
		return 0, false, nil
	}
	list, isList := raw.([]pyjson.Value)
	if !isList {
		return 0, false, c.errf(key, "is %s, want a list", describe(raw))
	}
	return len(list), true, nil
}

// describe names a JSON value's type for error messages.
func describe(v pyjson.Value) string {
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

// cloneValue deep-copies a pyjson value.
func cloneValue(v pyjson.Value) pyjson.Value {
	switch x := v.(type) {
	case *pyjson.Object:
		o := pyjson.NewObject()
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			o.Set(k, cloneValue(e))
		}
		return o
	case []pyjson.Value:
		out := make([]pyjson.Value, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// truthy reports Python's truth value of a JSON value.
func truthy(v pyjson.Value) bool {
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

// parseObject parses JSON that must be an object.
func parseObject(b []byte) (*pyjson.Object, error) {
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
