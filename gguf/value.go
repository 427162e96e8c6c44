package gguf

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// valueType is the type of a metadata value (enum gguf_type in gguf.h). The
// numeric values are stored in the file.
type valueType uint32

// The metadata value types.
const (
	vtUint8       valueType = 0
	vtInt8        valueType = 1
	vtUint16      valueType = 2
	vtInt16       valueType = 3
	vtUint32      valueType = 4
	vtInt32       valueType = 5
	vtFloat32     valueType = 6
	vtBool        valueType = 7 // one byte; llama.cpp reads any non-zero byte as true
	vtString      valueType = 8 // u64 length + bytes, no NUL
	vtArray       valueType = 9 // u32 element type + u64 count + elements
	vtUint64      valueType = 10
	vtInt64       valueType = 11
	vtFloat64     valueType = 12
	numValueTypes valueType = 13
)

type valueTypeTrait struct {
	name    string // gguf-py GGUFValueType name
	size    uint64 // encoded bytes of one value; 0 for string and array
	minSize uint64 // fewest encoded bytes one value can take
}

var valueTypeTraits = [numValueTypes]valueTypeTrait{
	vtUint8:   {"UINT8", 1, 1},
	vtInt8:    {"INT8", 1, 1},
	vtUint16:  {"UINT16", 2, 2},
	vtInt16:   {"INT16", 2, 2},
	vtUint32:  {"UINT32", 4, 4},
	vtInt32:   {"INT32", 4, 4},
	vtFloat32: {"FLOAT32", 4, 4},
	vtBool:    {"BOOL", 1, 1},
	vtString:  {"STRING", 0, 8},
	vtArray:   {"ARRAY", 0, 12},
	vtUint64:  {"UINT64", 8, 8},
	vtInt64:   {"INT64", 8, 8},
	vtFloat64: {"FLOAT64", 8, 8},
}

// Valid reports whether t is a known value type.
func (t valueType) Valid() bool { return t < numValueTypes }

// String returns the type name as gguf-py spells it ("UINT32").
func (t valueType) String() string {
	if !t.Valid() {
		return fmt.Sprintf("ValueType(%d)", uint32(t))
	}
	return valueTypeTraits[t].name
}

// Size returns the encoded size of one value of type t in bytes, or 0 for
// string and array, whose size depends on the value.
func (t valueType) Size() uint64 {
	if !t.Valid() {
		return 0
	}
	return valueTypeTraits[t].size
}

// maxStringLen is the longest string (key, value or tensor name) the reader
// and writer accept, in bytes (GGUF_MAX_STRING_LENGTH in gguf.cpp).
const maxStringLen = 1 << 30

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

// Value is one typed metadata value. Build it with NewValue: the Go type
// chosen is the GGUF type written. A Value built from a slice keeps that
// slice; do not modify it afterwards. The zero Value is invalid.
type Value struct {
	typ  valueType
	elem valueType // element type when typ == vtArray
	v    any       // one of the Data types
}

// KV is one metadata key-value pair.
type KV struct {
	Key   string
	Value Value
}

// NewValue returns a metadata value holding v. The Go type of v is the GGUF
// type written (uint32 is UINT32, []string is an ARRAY of STRING, ...),
// because llama.cpp checks metadata types exactly: a UINT64 context_length
// is rejected. Give the type explicitly for a constant
// (NewValue[uint32](2)): an untyped 2 is an int, which no GGUF type is. A
// string is written as its bytes (GGUF expects UTF-8 but the format does
// not check it). A nil slice is an empty array.
func NewValue[T Data](v T) Value {
	switch x := any(v).(type) {
	case uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64, int64, float64:
		return Value{typ: scalarType(x), v: x}
	case []uint8:
		return array(vtUint8, x)
	case []int8:
		return array(vtInt8, x)
	case []uint16:
		return array(vtUint16, x)
	case []int16:
		return array(vtInt16, x)
	case []uint32:
		return array(vtUint32, x)
	case []int32:
		return array(vtInt32, x)
	case []float32:
		return array(vtFloat32, x)
	case []bool:
		return array(vtBool, x)
	case []string:
		return array(vtString, x)
	case []uint64:
		return array(vtUint64, x)
	case []int64:
		return array(vtInt64, x)
	case []float64:
		return array(vtFloat64, x)
	}
	return Value{}
}

// scalarType returns the GGUF type of x, one of the Data scalar types.
func scalarType(x any) valueType {
	switch x.(type) {
	case uint8:
		return vtUint8
	case int8:
		return vtInt8
	case uint16:
		return vtUint16
	case int16:
		return vtInt16
	case uint32:
		return vtUint32
	case int32:
		return vtInt32
	case float32:
		return vtFloat32
	case bool:
		return vtBool
	case string:
		return vtString
	case uint64:
		return vtUint64
	case int64:
		return vtInt64
	}
	return vtFloat64
}

func array[T any](elem valueType, v []T) Value {
	if v == nil {
		v = []T{}
	}
	return Value{typ: vtArray, elem: elem, v: v}
}

// Type returns the name of the value's GGUF type as gguf-py spells it:
// "UINT32", "STRING", "ARRAY" for an array.
func (v Value) Type() string { return v.typ.String() }

// ElemType returns the type name of an array's elements ("STRING"); for a
// scalar it returns the value's own type name.
func (v Value) ElemType() string {
	if v.typ == vtArray {
		return v.elem.String()
	}
	return v.typ.String()
}

// IsArray reports whether v is an array.
func (v Value) IsArray() bool { return v.typ == vtArray }

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
	if v.typ == vtArray {
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
	if v.typ != vtArray || i < 0 || i >= v.Len() {
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
	if v.typ == vtArray {
		if !v.elem.Valid() || v.elem == vtArray {
			return fmt.Errorf("%w: array element type %s not allowed", ErrInvalid, v.elem)
		}
		if v.Len() > MaxArrayLen {
			return fmt.Errorf("%w: array of %d elements exceeds %d", ErrInvalid, v.Len(), MaxArrayLen)
		}
		if ss, ok := v.v.([]string); ok {
			for i, s := range ss {
				if len(s) > maxStringLen {
					return fmt.Errorf("%w: array element %d: string of %d bytes exceeds %d",
						ErrInvalid, i, len(s), maxStringLen)
				}
			}
		}
		return nil
	}
	if s, ok := v.v.(string); ok && len(s) > maxStringLen {
		return fmt.Errorf("%w: string of %d bytes exceeds %d", ErrInvalid, len(s), maxStringLen)
	}
	return nil
}

// encodedSize returns the number of bytes appendValue writes for v, with the
// type tag(s) when tagged. Sizes are bounded by MaxArrayLen and maxStringLen
// (checked by check), so the sum cannot overflow uint64.
func (v Value) encodedSize(tagged bool) uint64 {
	var n uint64
	if tagged {
		n = 4
		if v.typ == vtArray {
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
	elem := v.typ
	if elem == vtArray {
		elem = v.elem
	}
	return n + uint64(v.Len())*elem.Size()
}

// appendValue appends the encoding of v to b: the u32 type tag (and for
// arrays the u32 element type and u64 count) when tagged, then the payload.
func appendValue(b []byte, v Value, tagged bool) []byte {
	if tagged {
		b = le.AppendUint32(b, uint32(v.typ))
		if v.typ == vtArray {
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
