package model

import "fmt"

// The row and column gathers of a TensorRule (its Rows and Cols; the
// rule type is in ggufssm.go).

// RowPart is one GGUF tensor a TensorRule's Rows makes: the source rows
// Rows, in output order, under the GGUF base name Name (without "blk.N."
// and the ".weight"/".bias" suffix; "" keeps the name).
type RowPart struct {
	Name string
	Rows []int
}

// Span returns the indices [start, start+n).
func Span(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

// GroupedToTiled is the permutation that reorders heads of dim elements
// stored grouped ([g0 h0..h(per-1), g1 h0..]: groups groups of per heads)
// to tiled order ([g0 h0, g1 h0, ..., g0 h1, g1 h1, ...]): output index i
// holds input index GroupedToTiled(...)[i].
func GroupedToTiled(groups, per, dim int) []int {
	out := make([]int, 0, groups*per*dim)
	for h := 0; h < per; h++ {
		for g := 0; g < groups; g++ {
			out = append(out, Span((g*per+h)*dim, dim)...)
		}
	}
	return out
}

// CheckPerm reports whether p is a permutation of [0, n); what names the
// tensor in the error.
func CheckPerm(what string, p []int, n int) error {
	if len(p) != n {
		return fmt.Errorf("%w: %s: a permutation of %d indices for %d", ErrExport, what, len(p), n)
	}
	seen := make([]bool, n)
	for _, v := range p {
		if v < 0 || v >= n || seen[v] {
			return fmt.Errorf("%w: %s: not a permutation of [0, %d)", ErrExport, what, n)
		}
		seen[v] = true
	}
	return nil
}

// CheckRows reports whether every index of rows lies in [0, n).
func CheckRows(what string, rows []int, n int) error {
	for _, v := range rows {
		if v < 0 || v >= n {
			return fmt.Errorf("%w: %s: row %d outside [0, %d)", ErrExport, what, v, n)
		}
	}
	return nil
}
