package ggufexport

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

func TestGatherUnits(t *testing.T) {
	b := []byte{0, 1, 2, 3, 4, 5} // three rows of two bytes
	for _, tc := range []struct {
		name string
		n    int
		idx  []int
		want []byte
		err  bool
	}{
		{"reverse", 3, []int{2, 1, 0}, []byte{4, 5, 2, 3, 0, 1}, false},
		{"rotate", 3, []int{1, 2, 0}, []byte{2, 3, 4, 5, 0, 1}, false},
		{"subset", 3, []int{1}, []byte{2, 3}, false},
		{"repeat", 3, []int{0, 0}, []byte{0, 1, 0, 1}, false},
		{"elements", 6, []int{5, 0}, []byte{5, 0}, false},
		{"out of range", 3, []int{3}, nil, true},
		{"uneven", 4, []int{0}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gatherUnits(b, tc.n, tc.idx)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Errorf("gatherUnits = %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestPermuteCols(t *testing.T) {
	b := []byte{0, 1, 2, 3, 10, 11, 12, 13} // two rows of four bytes
	for _, tc := range []struct {
		name string
		perm []int
		want []byte
		err  bool
	}{
		{"bytes", []int{3, 2, 1, 0}, []byte{3, 2, 1, 0, 13, 12, 11, 10}, false},
		{"rotate", []int{1, 2, 3, 0}, []byte{1, 2, 3, 0, 11, 12, 13, 10}, false}, // (a gather, not its inverse)
		{"pairs", []int{1, 0}, []byte{2, 3, 0, 1, 12, 13, 10, 11}, false},
		{"uneven", []int{0, 1, 2}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := permuteCols(b, 2, tc.perm)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Errorf("permuteCols = %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestGroupPerm(t *testing.T) {
	for _, tc := range []struct {
		name string
		cols []int
		gs   int
		want []int
	}{
		{"whole groups", []int{2, 3, 0, 1}, 2, []int{1, 0}},
		{"identity", []int{0, 1, 2, 3}, 2, []int{0, 1}},
		{"splits a group", []int{0, 2, 1, 3}, 2, nil},
		{"unaligned start", []int{1, 2, 3, 0}, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := groupPerm(tc.cols, tc.gs)
			if (err != nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
				t.Errorf("groupPerm = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestNegExpSources: -exp on the value the converter holds: float32 for float32
// and bfloat16 sources (correctly rounded but for MKL's bfloat16
// exceptions), float16-rounded for float16.
func TestNegExpSources(t *testing.T) {
	in := []float32{0, 1, -2.5, 0.0737}
	for _, tc := range []struct {
		dt   mlx.DType
		want func(float64) float32
	}{
		{mlx.F32, func(v float64) float32 { return float32(-math.Exp(v)) }},
		{mlx.BF16, func(v float64) float32 { return float32(-math.Exp(v)) }},
		{mlx.F16, func(v float64) float32 { return -npfloat.F16ToF32(npfloat.F32ToF16(float32(math.Exp(v)))) }},
	} {
		x := slices.Clone(in)
		negExp(x, tc.dt)
		for i, v := range in {
			if w := tc.want(float64(v)); x[i] != w {
				t.Errorf("%s: -exp(%v) = %v, want %v", tc.dt, v, x[i], w)
			}
		}
	}
	// The qwen3_next fixture's A_log -0.072753906 (bfloat16 0xbd95): torch
	// (MKL) gives -0.92982966, the correctly rounded value is -0.9298296.
	y := []float32{math.Float32frombits(0xbd950000)}
	negExp(y, mlx.BF16)
	if math.Float32bits(y[0]) != 0xbf6e0951 {
		t.Errorf("bfloat16 -exp(-0.072753906) = %v (%#x), want torch's -0.92982966", y[0], math.Float32bits(y[0]))
	}
	x := []float32{0.5}
	negExp(x, mlx.F16)
	if x[0] != -1.6484375 { // exp(0.5) = 1.6487..., float16 1.6484375
		t.Errorf("float16 -exp(0.5) = %v", x[0])
	}
}

func TestRawAddOne(t *testing.T) {
	src := source.SourceTensor{Name: "n.weight", DType: mlx.BF16, Shape: []int{4}}
	shifted := &source.Input{Name: "n.weight", DType: mlx.BF16, Shape: []int{4}, Op: source.OpValue, Value: model.ValueAddOne,
		Sources: []source.SourceTensor{src}}
	raw := rawAddOne(shifted)
	if raw == nil || raw.Op != source.OpDirect || raw.DType != mlx.BF16 || raw.Sources[0].Name != "n.weight" {
		t.Fatalf("rawAddOne = %+v", raw)
	}
	for _, in := range []*source.Input{
		{Op: source.OpDirect, Sources: []source.SourceTensor{src}},
		{Op: source.OpValue, Value: model.ValueSwapLast2, Sources: []source.SourceTensor{src}},
	} {
		if rawAddOne(in) != nil {
			t.Errorf("rawAddOne(%v %v) is not nil", in.Op, in.Value)
		}
	}
}

// TestRegather: a whole unit's rows gathered (a 2-D float tensor, and a
// 1-D one's elements), then columns permuted.
func TestRegather(t *testing.T) {
	f32 := func(v ...float32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	op := &tensorOp{mode: opFloat, inDType: mlx.F32, ne0: 2, gather: []int{2, 0}, cols: []int{1, 0}}
	ins, rows, err := op.regather([][]byte{f32(0, 1, 10, 11, 20, 21)}, 3)
	if err != nil || rows != 2 || !slices.Equal(ins[0], f32(21, 20, 1, 0)) {
		t.Errorf("2-D: rows %d, %v, %v", rows, ins[0], err)
	}
	op = &tensorOp{mode: opFloat, inDType: mlx.F32, ne0: 3, oneD: true, gather: []int{3, 1, 0}}
	ins, rows, err = op.regather([][]byte{f32(0, 1, 2, 3)}, 1)
	if err != nil || rows != 1 || !slices.Equal(ins[0], f32(3, 1, 0)) {
		t.Errorf("1-D: rows %d, %v, %v", rows, ins[0], err)
	}
}
