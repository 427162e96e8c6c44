package model

import (
	"errors"
	"testing"
)

func TestGroupedToTiled(t *testing.T) {
	for _, tc := range []struct {
		name             string
		groups, per, dim int
		want             []int
	}{
		{"one head per group", 3, 1, 2, []int{0, 1, 2, 3, 4, 5}},
		{"2 groups of 2, dim 1", 2, 2, 1, []int{0, 2, 1, 3}},
		{"2 groups of 2, dim 2", 2, 2, 2, []int{0, 1, 4, 5, 2, 3, 6, 7}},
		{"2 groups of 3, dim 1", 2, 3, 1, []int{0, 3, 1, 4, 2, 5}},
		{"1 group", 1, 3, 1, []int{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := GroupedToTiled(tc.groups, tc.per, tc.dim)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
			if err := CheckPerm("x", got, len(got)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckPermRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []int
		n    int
		perm bool // a permutation of [0, n)
		rows bool // every index in [0, n)
	}{
		{"identity", []int{0, 1, 2}, 3, true, true},
		{"swap", []int{1, 0}, 2, true, true},
		{"repeat", []int{0, 0}, 2, false, true},
		{"short", []int{0}, 2, false, true},
		{"out of range", []int{0, 2}, 2, false, false},
		{"negative", []int{-1, 0}, 2, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPerm("t", tc.p, tc.n)
			if (err == nil) != tc.perm || err != nil && !errors.Is(err, ErrExport) {
				t.Errorf("CheckPerm: %v, want permutation %v", err, tc.perm)
			}
			err = CheckRows("t", tc.p, tc.n)
			if (err == nil) != tc.rows || err != nil && !errors.Is(err, ErrExport) {
				t.Errorf("CheckRows: %v, want in range %v", err, tc.rows)
			}
		})
	}
}
