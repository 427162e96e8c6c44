package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mlxconv/mlxconv/model/family"
)

// writeFamilies prints the --list-families table: one row per family
// (the model types the generic families convert as read, one row each) with its
// config.json model types and whether convert (MLX) and gguf export it.
func writeFamilies(w io.Writer) error {
	type row struct {
		name, types string
		gguf        bool
	}
	var rows []row
	for _, f := range family.All {
		if family.PerType(f) {
			for _, t := range f.Types {
				rows = append(rows, row{name: t, types: t})
			}
			continue
		}
		var exported []string
		if f.GGUF != nil {
			exported = f.GGUF.Types
		}
		types := make([]string, len(f.Types))
		for i, t := range f.Types {
			types[i] = t
			if f.GGUF != nil && !slices.Contains(exported, t) {
				types[i] = t + " (MLX only)"
			}
		}
		rows = append(rows, row{name: f.Name, types: strings.Join(types, ", "), gguf: f.GGUF != nil})
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.name, b.name) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAMILY\tMODEL TYPES\tMLX\tGGUF")
	mark := map[bool]string{true: "yes", false: "-"}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.types, "yes", mark[r.gguf])
	}
	return tw.Flush()
}
