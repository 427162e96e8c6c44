package gguf

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPadding(t *testing.T) {
	for _, tc := range []struct{ off, align, pad uint64 }{
		{0, 8, 0}, {1, 8, 7}, {7, 8, 1}, {8, 8, 0}, {9, 8, 7},
		{0, 32, 0}, {1, 32, 31}, {31, 32, 1}, {32, 32, 0}, {33, 32, 31}, {64, 32, 0},
		{63, 64, 1}, {64, 64, 0}, {65, 64, 63}, {100, 1, 0},
		{math.MaxInt64 - 31, 32, 0}, // 2^63-32: aligned, the largest aligned int64 offset
		{math.MaxInt64 - 40, 32, 9},
	} {
		assert.Equal(t, tc.pad, padding(tc.off, tc.align), "padding(%d, %d)", tc.off, tc.align)
		up, err := alignUp(tc.off, tc.align)
		require.NoError(t, err)
		assert.Equal(t, tc.off+tc.pad, up)
		assert.Zero(t, up%tc.align)
	}
	_, err := alignUp(math.MaxInt64-30, 32)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = alignUp(math.MaxUint64, 8)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestAlignmentRules(t *testing.T) {
	for a, want := range map[uint32][2]bool{ // {read, write}
		0: {false, false}, 1: {true, false}, 2: {true, false}, 4: {true, false},
		8: {true, true}, 16: {true, true}, 24: {false, false}, 32: {true, true},
		48: {false, false}, 64: {true, true}, 1 << 31: {true, true}, math.MaxUint32: {false, false},
	} {
		assert.Equal(t, want[0], validReadAlignment(a), "read %d", a)
		assert.Equal(t, want[1], validWriteAlignment(a), "write %d", a)
	}
}

func TestX86Byte(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		f    float32
		want byte
	}{
		{0, 0}, {-0.5, 0}, {0.99, 0}, {15.9, 15}, {255.9, 255}, {256, 0}, {300, 44},
		{-1, 255}, {-7.5, 249}, {-128, 128}, {1 << 24, 0}, {1<<24 + 2, 2},
		{2147483520, 128}, {1 << 31, 0}, {-(1 << 31), 0}, {-2147483520, 128}, {3e9, 0},
		{nan, 0}, {float32(math.Inf(1)), 0}, {float32(math.Inf(-1)), 0},
	} {
		assert.Equal(t, tc.want, x86Byte(tc.f), "x86Byte(%v)", tc.f)
	}
}

func TestValueCheck(t *testing.T) {
	for _, v := range []Value{
		{},
		{typ: vtArray, elem: vtArray, v: []uint8{}},
		{typ: vtArray, elem: valueType(13), v: []uint8{}},
		{typ: valueType(20), v: uint8(1)},
	} {
		assert.ErrorIs(t, v.check(), ErrInvalid, "%#v", v)
	}
	_, err := NewPlan([]KV{{Key: "n", Value: Value{typ: vtArray, elem: vtArray, v: []uint8{}}}}, nil)
	assert.ErrorContains(t, err, `kv 0 "n": gguf: invalid argument: array element type ARRAY not allowed`)
	for _, v := range []Value{NewValue[uint8](1), NewValue[[]string](nil), NewValue([]float64{1})} {
		assert.NoError(t, v.check())
	}
}

func TestEncodedSize(t *testing.T) {
	for _, v := range []Value{
		NewValue[uint8](1), NewValue[int8](1), NewValue[uint16](1), NewValue[int16](1), NewValue[uint32](1), NewValue[int32](1), NewValue[float32](1), NewValue(true),
		NewValue("héllo"), NewValue[uint64](1), NewValue[int64](1), NewValue[float64](1),
		NewValue([]uint8{1, 2}), NewValue([]int8{1}), NewValue([]uint16{1}), NewValue([]int16{1, 2, 3}),
		NewValue[[]uint32](nil), NewValue([]int32{1}), NewValue([]float32{1, 2}), NewValue([]bool{true}),
		NewValue([]string{"a", "", "ccc"}), NewValue([]uint64{1}), NewValue([]int64{1}), NewValue([]float64{1}),
	} {
		for _, tagged := range []bool{false, true} {
			assert.EqualValues(t, len(appendValue(nil, v, tagged)), v.encodedSize(tagged), "%v tagged=%v", v, tagged)
		}
	}
}

func TestValueTypeNames(t *testing.T) {
	assert.Equal(t, "UINT32", vtUint32.String())
	assert.Equal(t, "ValueType(13)", valueType(13).String())
	assert.EqualValues(t, 8, vtFloat64.Size())
}
