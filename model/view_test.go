package model

import (
	"errors"
	"slices"
	"testing"
)

// iota8 is n one-byte elements 0..n-1.
func iota8(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// TestViewApply checks views against the index arithmetic of the numpy
// operations they stand for.
func TestViewApply(t *testing.T) {
	// src [2, 3, 4] (element = its flat index)
	at := func(e, r, c int) byte { return byte(e*12 + r*4 + c) }
	tests := []struct {
		name  string
		src   []int
		view  View
		shape []int
		want  func() []byte
	}{
		{"split last axis, second half", []int{2, 3, 4}, View{Axis: 2, Start: 2, Stop: 4}, []int{2, 3, 2}, func() []byte {
			var out []byte
			for e := 0; e < 2; e++ {
				for r := 0; r < 3; r++ {
					out = append(out, at(e, r, 2), at(e, r, 3))
				}
			}
			return out
		}},
		{"split last axis then swap 1 and 2 (llama4 gate_up_proj)", []int{2, 3, 4}, View{Axis: 2, Start: 0, Stop: 2, Swap12: true}, []int{2, 2, 3}, func() []byte {
			var out []byte
			for e := 0; e < 2; e++ {
				for c := 0; c < 2; c++ {
					for r := 0; r < 3; r++ {
						out = append(out, at(e, r, c))
					}
				}
			}
			return out
		}},
		{"every second index of the last axis from 1, then swap 1 and 2 (gpt_oss bf16 gate_up_proj up)", []int{2, 3, 4},
			View{Axis: 2, Start: 1, Stop: 4, Step: 2, Swap12: true}, []int{2, 2, 3}, func() []byte {
				var out []byte
				for e := 0; e < 2; e++ {
					for _, c := range []int{1, 3} {
						for r := 0; r < 3; r++ {
							out = append(out, at(e, r, c))
						}
					}
				}
				return out
			}},
		{"every second row from 0 (gpt_oss bf16 gate_up_proj gate)", []int{2, 3, 4}, View{Axis: 1, Start: 0, Stop: 3, Step: 2}, []int{2, 2, 4}, func() []byte {
			var out []byte
			for e := 0; e < 2; e++ {
				for _, r := range []int{0, 2} {
					for c := 0; c < 4; c++ {
						out = append(out, at(e, r, c))
					}
				}
			}
			return out
		}},
		{"reshape, cut axis 1, flatten (hunyuan qkv_proj k)", []int{8, 3}, View{Shape: []int{2, 2, 2, 3}, Axis: 1, Start: 1, Stop: 2, Out: []int{4, 3}}, []int{4, 3}, func() []byte {
			// rows 2..3 of each group of 4 rows
			return []byte{6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shape, err := tt.view.OutShape(tt.src)
			if err != nil || !slices.Equal(shape, tt.shape) {
				t.Fatalf("OutShape = %v, %v; want %v", shape, err, tt.shape)
			}
			n := 1
			for _, d := range tt.src {
				n *= d
			}
			got, err := tt.view.Apply(iota8(n), tt.src, 1)
			if err != nil || !slices.Equal(got, tt.want()) {
				t.Fatalf("Apply = %v, %v; want %v", got, err, tt.want())
			}
		})
	}
}

func TestViewErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  []int
		view View
	}{
		{"reshape changes the size", []int{4, 4}, View{Shape: []int{3, 5}, Stop: 1}},
		{"cut beyond the axis", []int{4, 4}, View{Axis: 1, Start: 2, Stop: 5}},
		{"empty cut", []int{4, 4}, View{Axis: 0, Start: 2, Stop: 2}},
		{"swap on 2-D", []int{4, 4}, View{Axis: 0, Stop: 4, Swap12: true}},
		{"out changes the size", []int{4, 4}, View{Axis: 0, Stop: 2, Out: []int{16}}},
	} {
		if _, err := tt.view.OutShape(tt.src); !errors.Is(err, ErrWeights) {
			t.Errorf("%s: err = %v, want ErrWeights", tt.name, err)
		}
	}
	if _, err := SplitViews([]int{4, 6}, -1, 4); !errors.Is(err, ErrWeights) {
		t.Errorf("uneven split: err = %v", err)
	}
	if v, err := SplitViews([]int{4, 6}, -1, 2); err != nil || v[1].Axis != 1 || v[1].Start != 3 || v[1].Stop != 6 {
		t.Errorf("SplitViews = %v, %v", v, err)
	}
}
