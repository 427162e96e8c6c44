package gguf

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// ValueType is the type of a metadata value (enum gguf_type in gguf.h). The
// numeric values are stored in the file.
type ValueType uint32

// The metadata value types.
const (
	ValueUint8    ValueType = 0
	ValueInt8     ValueType = 1
	ValueUint16   ValueType = 2
	ValueInt16    ValueType = 3
	ValueUint32   ValueType = 4
	ValueInt32    ValueType = 5
	ValueFloat32  ValueType = 6
	ValueBool     ValueType = 7 // one byte; llama.cpp reads any non-zero byte as true
	ValueString   ValueType = 8 // u64 length + bytes, no NUL
	ValueArray    ValueType = 9 // u32 element type + u64 count + elements
	ValueUint64   ValueType = 10
	ValueInt64    ValueType = 11
	ValueFloat64  ValueType = 12
	numValueTypes ValueType = 13
)

type valueTypeTrait struct {
	name    string // gguf-py GGUFValueType name
	size    uint64 // encoded bytes of one value; 0 for string and array
	minSize uint64 // fewest encoded bytes one value can take
}

var valueTypeTraits = [numValueTypes]valueTypeTrait{
	ValueUint8:   {"UINT8", 1, 1},
	ValueInt8:    {"INT8", 1, 1},
	ValueUint16:  {"UINT16", 2, 2},
	ValueInt16:   {"INT16", 2, 2},
	ValueUint32:  {"UINT32", 4, 4},
	ValueInt32:   {"INT32", 4, 4},
	ValueFloat32: {"FLOAT32", 4, 4},
	ValueBool:    {"BOOL", 1, 1},
	ValueString:  {"STRING", 0, 8},
	ValueArray:   {"ARRAY", 0, 12},
	ValueUint64:  {"UINT64", 8, 8},
	ValueInt64:   {"INT64", 8, 8},
	ValueFloat64: {"FLOAT64", 8, 8},
}

// Valid reports whether t is a known value type.
func (t ValueType) Valid() bool { return t < numValueTypes }

// String returns the type name as gguf-py spells it ("UINT32").
func (t ValueType) String() string {
	if !t.Valid() {
		return fmt.Sprintf("ValueType(%d)", uint32(t))
	}
	return valueTypeTraits[t].name
}

// Size returns the encoded size of one value of type t in bytes, or 0 for
// string and array, whose size depends on the value.
func (t ValueType) Size() uint64 {
	if !t.Valid() {
		return 0
	}
	return valueTypeTraits[t].size
}

// MaxStringLen is the longest string (key, value or tensor name) the reader
// and writer accept, in bytes (GGUF_MAX_STRING_LENGTH in gguf.cpp).
const MaxStringLen = 1 << 30

// MaxArrayLen is the largest number of elements of an array value
// (GGUF_MAX_ARRAY_ELEMENTS in gguf.cpp).
const MaxArrayLen = 1 << 30

// Data is the set of Go types a Value holds, one per GGUF value type: the
// scalar types and slices of them. Arrays of arrays are not supported
// (llama.cpp rejects them).
type Data interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | float32 | bool | string | uint64 | int64 | float64 |
		[]uint8 | []int8 | []uint16 | []int16 | []uint32 | []int32 | []float32 | []bool | []string |
		[]uint64 | []int64 | []float64
}

// Value is one typed metadata value. Build it with the typed constructors
// (Uint32, String, Strings, ...): the Go type chosen is the GGUF type written,
// because llama.cpp checks metadata types exactly (a u64 context_length is
// rejected). A Value built from a slice keeps that slice; do not modify it
// afterwards. The zero Value is invalid.
type Value struct {
	typ  ValueType
	elem ValueType // element type when typ == ValueArray
	v    any       // one of the Data types
}

// KV is one metadata key-value pair.
type KV struct {
	Key   string
	Value Value
}

// Uint8 returns a UINT8 value.
func Uint8(v uint8) Value { return Value{typ: ValueUint8, v: v} }

// Int8 returns an INT8 value.
func Int8(v int8) Value { return Value{typ: ValueInt8, v: v} }

// Uint16 returns a UINT16 value.
func Uint16(v uint16) Value { return Value{typ: ValueUint16, v: v} }

// Int16 returns an INT16 value.
func Int16(v int16) Value { return Value{typ: ValueInt16, v: v} }

// Uint32 returns a UINT32 value.
func Uint32(v uint32) Value { return Value{typ: ValueUint32, v: v} }

// Int32 returns an INT32 value.
func Int32(v int32) Value { return Value{typ: ValueInt32, v: v} }

// Float32 returns a FLOAT32 value.
func Float32(v float32) Value { return Value{typ: ValueFloat32, v: v} }

// Bool returns a BOOL value.
func Bool(v bool) Value { return Value{typ: ValueBool, v: v} }

// String returns a STRING value. s is written as its bytes; GGUF expects
// UTF-8 but the format does not check it.
func String(s string) Value { return Value{typ: ValueString, v: s} }

// Uint64 returns a UINT64 value.
func Uint64(v uint64) Value { return Value{typ: ValueUint64, v: v} }

// Int64 returns an INT64 value.
func Int64(v int64) Value { return Value{typ: ValueInt64, v: v} }

// Float64 returns a FLOAT64 value.
func Float64(v float64) Value { return Value{typ: ValueFloat64, v: v} }

func array[T any](elem ValueType, v []T) Value {
	if v == nil {
		v = []T{}
	}
	return Value{typ: ValueArray, elem: elem, v: v}
}

// Uint8s returns an ARRAY of UINT8 value.
func Uint8s(v []uint8) Value { return array(ValueUint8, v) }

// Int8s returns an ARRAY of INT8 value.
func Int8s(v []int8) Value { return array(ValueInt8, v) }

// Uint16s returns an ARRAY of UINT16 value.
func Uint16s(v []uint16) Value { return array(ValueUint16, v) }

// Int16s returns an ARRAY of INT16 value.
func Int16s(v []int16) Value { return array(ValueInt16, v) }

// Uint32s returns an ARRAY of UINT32 value.
func Uint32s(v []uint32) Value { return array(ValueUint32, v) }

// Int32s returns an ARRAY of INT32 value.
func Int32s(v []int32) Value { return array(ValueInt32, v) }

// Float32s returns an ARRAY of FLOAT32 value.
func Float32s(v []float32) Value { return array(ValueFloat32, v) }

// Bools returns an ARRAY of BOOL value.
func Bools(v []bool) Value { return array(ValueBool, v) }

// Strings returns an ARRAY of STRING value.
func Strings(v []string) Value { return array(ValueString, v) }

// Uint64s returns an ARRAY of UINT64 value.
func Uint64s(v []uint64) Value { return array(ValueUint64, v) }

// Int64s returns an ARRAY of INT64 value.
func Int64s(v []int64) Value { return array(ValueInt64, v) }

// Float64s returns an ARRAY of FLOAT64 value.
func Float64s(v []float64) Value { return array(ValueFloat64, v) }

// Type returns the value's type (ValueArray for arrays).
func (v Value) Type() ValueType { return v.typ }

// ElemType returns the element type of an array value; for a scalar it
// returns the value's own type.
func (v Value) ElemType() ValueType {
	if v.typ == ValueArray {
		return v.elem
	}
	return v.typ
}

// IsArray reports whether v is an array.
func (v Value) IsArray() bool { return v.typ == ValueArray }

// Valid reports whether v was built by a constructor or read from a file.
func (v Value) Valid() bool { return v.v != nil }

// Len returns the number of elements of an array, the byte length of a
// string, and 1 for any other scalar.
func (v Value) Len() int {
	switch x := v.v.(type) {
	case string:
		return len(x)
	case []uint8:
		return len(x)
	case []int8:
		return len(x)
	case []uint16:
		return len(x)
	case []int16:
		return len(x)
	case []uint32:
		return len(x)
	case []int32:
		return len(x)
	case []float32:
		return len(x)
	case []bool:
		return len(x)
	case []string:
		return len(x)
	case []uint64:
		return len(x)
	case []int64:
		return len(x)
	case []float64:
		return len(x)
	case nil:
		return 0
	}
	return 1
}

// Any returns the value as its Go type: one of the Data types. Arrays are
// returned as the slice the Value holds, not a copy.
func (v Value) Any() any { return v.v }

// As returns v as Go type T, which must be exactly the Go type of v's GGUF
// type (uint32 for UINT32, []string for an array of STRING, ...). There is no
// conversion: a UINT64 value asked for as uint32 is an error wrapping
// ErrType, the same strictness llama.cpp applies.
func As[T Data](v Value) (T, error) {
	x, ok := v.v.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: value is %s, not %T", ErrType, v.typeName(), zero)
	}
	return x, nil
}

// typeName is "UINT32" or "ARRAY[STRING]".
func (v Value) typeName() string {
	if v.v == nil {
		return "invalid"
	}
	if v.typ == ValueArray {
		return "ARRAY[" + v.elem.String() + "]"
	}
	return v.typ.String()
}

// Equal reports whether v and w have the same type and the same encoded
// bytes (floats compare by bit pattern, so NaN equals an identical NaN).
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ || v.elem != w.elem || v.Valid() != w.Valid() {
		return false
	}
	return string(appendValue(nil, v, false)) == string(appendValue(nil, w, false))
}

// String formats v for humans: scalars as Go would print them, strings
// quoted, and arrays summarised when longer than 8 elements.
func (v Value) String() string {
	const maxShown = 8
	switch x := v.v.(type) {
	case nil:
		return "<invalid>"
	case string:
		return strconv.Quote(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case uint8, int8, uint16, int16, uint32, int32, uint64, int64, bool:
		return fmt.Sprint(x)
	}
	n := v.Len()
	var b strings.Builder
	fmt.Fprintf(&b, "[%s×%d]{", v.elem, n)
	for i := 0; i < n && i < maxShown; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.Index(i).String())
	}
	if n > maxShown {
		b.WriteString(", …")
	}
	b.WriteString("}")
	return b.String()
}

// Index returns element i of an array value as a scalar Value. It returns the
// zero (invalid) Value when v is not an array or i is out of range.
func (v Value) Index(i int) Value {
	if v.typ != ValueArray || i < 0 || i >= v.Len() {
		return Value{}
	}
	// Every array holds one of the Data slice types, whose elements are
	// of the Data scalar type for v.elem.
	return Value{typ: v.elem, v: reflect.ValueOf(v.v).Index(i).Interface()}
}

// check reports why v cannot be written, or nil.
func (v Value) check() error {
	if v.v == nil || !v.typ.Valid() {
		return fmt.Errorf("%w: invalid (zero) value", ErrInvalid)
	}
	if v.typ == ValueArray {
		if !v.elem.Valid() || v.elem == ValueArray {
			return fmt.Errorf("%w: array element type %s not allowed", ErrInvalid, v.elem)
		}
		if v.Len() > MaxArrayLen {
			return fmt.Errorf("%w: array of %d elements exceeds %d", ErrInvalid, v.Len(), MaxArrayLen)
		}
		if ss, ok := v.v.([]string); ok {
			for i, s := range ss {
				if len(s) > MaxStringLen {
					return fmt.Errorf("%w: array element %d: string of %d bytes exceeds %d",
						ErrInvalid, i, len(s), MaxStringLen)
				}
			}
		}
		return nil
	}
	if s, ok := v.v.(string); ok && len(s) > MaxStringLen {
		return fmt.Errorf("%w: string of %d bytes exceeds %d", ErrInvalid, len(s), MaxStringLen)
	}
	return nil
}

// encodedSize returns the number of bytes appendValue writes for v, with the
// type tag(s) when tagged. Sizes are bounded by MaxArrayLen and MaxStringLen
// (checked by check), so the sum cannot overflow uint64.
func (v Value) encodedSize(tagged bool) uint64 {
	var n uint64
	if tagged {
		n = 4
		if v.typ == ValueArray {
			n += 4 + 8
		}
	}
	switch x := v.v.(type) {
	case string:
		return n + 8 + uint64(len(x))
	case []string:
		for _, s := range x {
			n += 8 + uint64(len(s))
		}
		return n
	}
	return n + uint64(v.Len())*v.ElemType().Size()
}

// appendValue appends the encoding of v to b: the u32 type tag (and for
// arrays the u32 element type and u64 count) when tagged, then the payload.
func appendValue(b []byte, v Value, tagged bool) []byte {
	if tagged {
		b = le.AppendUint32(b, uint32(v.typ))
		if v.typ == ValueArray {
			b = le.AppendUint32(b, uint32(v.elem))
			b = le.AppendUint64(b, uint64(v.Len()))
		}
	}
	return appendPayload(b, v.v)
}

// appendPayload appends the encoding of x, one of the Data types, without
// type tags.
func appendPayload(b []byte, x any) []byte {
	switch x := x.(type) {
	case uint8:
		return append(b, x)
	case int8:
		return appendInt8(b, x)
	case uint16:
		return le.AppendUint16(b, x)
	case int16:
		return appendInt16(b, x)
	case uint32:
		return le.AppendUint32(b, x)
	case int32:
		return appendInt32(b, x)
	case float32:
		return appendFloat32(b, x)
	case bool:
		return appendBool(b, x)
	case string:
		return appendString(b, x)
	case uint64:
		return le.AppendUint64(b, x)
	case int64:
		return appendInt64(b, x)
	case float64:
		return appendFloat64(b, x)
	}
	return appendArrayPayload(b, x)
}

// appendArrayPayload appends the elements of x, one of the Data slice
// types, without type tags or count.
func appendArrayPayload(b []byte, x any) []byte {
	switch x := x.(type) {
	case []uint8:
		return append(b, x...)
	case []int8:
		return appendEach(b, x, appendInt8)
	case []uint16:
		return appendEach(b, x, le.AppendUint16)
	case []int16:
		return appendEach(b, x, appendInt16)
	case []uint32:
		return appendEach(b, x, le.AppendUint32)
	case []int32:
		return appendEach(b, x, appendInt32)
	case []float32:
		return appendEach(b, x, appendFloat32)
	case []bool:
		return appendEach(b, x, appendBool)
	case []string:
		return appendEach(b, x, appendString)
	case []uint64:
		return appendEach(b, x, le.AppendUint64)
	case []int64:
		return appendEach(b, x, appendInt64)
	case []float64:
		return appendEach(b, x, appendFloat64)
	}
	return b
}

// appendEach appends the encoding of each element of xs.
func appendEach[T any](b []byte, xs []T, appendElem func([]byte, T) []byte) []byte {
	for _, x := range xs {
		b = appendElem(b, x)
	}
	return b
}

func appendInt8(b []byte, x int8) []byte       { return append(b, byte(x)) }
func appendInt16(b []byte, x int16) []byte     { return le.AppendUint16(b, uint16(x)) }
func appendInt32(b []byte, x int32) []byte     { return le.AppendUint32(b, uint32(x)) }
func appendInt64(b []byte, x int64) []byte     { return le.AppendUint64(b, uint64(x)) }
func appendBool(b []byte, x bool) []byte       { return append(b, boolByte(x)) }
func appendFloat32(b []byte, x float32) []byte { return le.AppendUint32(b, math.Float32bits(x)) }
func appendFloat64(b []byte, x float64) []byte { return le.AppendUint64(b, math.Float64bits(x)) }

func appendString(b []byte, s string) []byte {
	b = le.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func boolByte(x bool) byte {
	if x {
		return 1
	}
	return 0
}
