package modelinfo

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mlxconv/mlxconv/internal/safe"
)

// maxListed bounds the per-module overrides and unknown modules the text
// report lists (the JSON has them all).
const maxListed = 10

// WriteText writes the report for a terminal: the summary, the files, the
// quantization, the dtypes, the parameters and bits per weight, then the
// tensor table. Names from files are quoted or escaped; metadata values
// over 120 bytes are cut unless full.
func (r Report) WriteText(w io.Writer, full bool) error {
	var b strings.Builder
	r.writeHead(&b, full)
	r.writeQuant(&b)
	fmt.Fprintln(&b, "dtypes:")
	tw := tabwriter.NewWriter(&b, 0, 2, 2, ' ', tabwriter.AlignRight)
	for _, d := range r.DTypes {
		fmt.Fprintf(tw, "  %s\t%d tensors\t%d elements\t%s\t\n", d.DType, d.Tensors, d.Elements, human(d.Bytes))
	}
	tw.Flush()
	if r.ParametersExact {
		fmt.Fprintf(&b, "parameters: %d (%s)\n", r.Parameters, humanCount(r.Parameters))
		fmt.Fprintf(&b, "bits per weight: %.3f\n", r.BitsPerWeight)
	} else {
		fmt.Fprintf(&b, "parameters: at least %d (%s), quantized modules of unknown bits left out\n", r.Parameters, humanCount(r.Parameters))
		fmt.Fprintln(&b, "bits per weight: unknown")
	}
	fmt.Fprintln(&b, "\ntensors:")
	tw = tabwriter.NewWriter(&b, 0, 2, 2, ' ', 0)
	many := len(r.Files) > 1
	head := "  NAME\tDTYPE\tSHAPE\tBYTES"
	if many {
		head += "\tFILE"
	}
	fmt.Fprintln(tw, head)
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d", safe.Name(t.Name), t.Type, shapeString(t.Shape), t.Bytes)
		if many {
			fmt.Fprintf(tw, "\t%s", safe.Name(t.File))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

func (r Report) writeHead(b *strings.Builder, full bool) {
	fmt.Fprintf(b, "%s: %s, %d tensors, %s (%d bytes)\n", r.Kind, strconv.Quote(r.Path), len(r.Tensors), human(r.Bytes), r.Bytes)
	if r.ModelType != "" || len(r.Architectures) > 0 {
		fmt.Fprintf(b, "model_type: %s", strconv.Quote(r.ModelType))
		if len(r.Architectures) > 0 {
			quoted := make([]string, len(r.Architectures))
			for i, a := range r.Architectures {
				quoted[i] = strconv.Quote(a)
			}
			fmt.Fprintf(b, ", architectures: %s", strings.Join(quoted, ", "))
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintln(b, "files:")
	for _, f := range r.Files {
		fmt.Fprintf(b, "  %s  %d tensors  %s\n", strconv.Quote(f.Name), f.Tensors, human(f.Size))
		for _, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			fmt.Fprintf(b, "    metadata %s: %s\n", strconv.Quote(k), strconv.Quote(clip(f.Metadata[k], full)))
		}
	}
}

func (r Report) writeQuant(b *strings.Builder) {
	q := r.Quantization
	if q == nil {
		fmt.Fprintln(b, "quantization: none")
		return
	}
	switch {
	case q.Config != nil:
		fmt.Fprintf(b, "quantization: %s (config.json)", q.Config)
	case q.Method != "":
		fmt.Fprintf(b, "quantization: quant_method %s (config.json quantization_config)", strconv.Quote(q.Method))
	default:
		fmt.Fprint(b, "quantization: not in config.json")
	}
	if len(q.Overrides) > 0 {
		fmt.Fprintf(b, ", %d per-module entries", len(q.Overrides))
	}
	fmt.Fprintln(b)
	for i, o := range q.Overrides {
		if i == maxListed {
			fmt.Fprintf(b, "  ... %d more (see --json)\n", len(q.Overrides)-maxListed)
			break
		}
		what := "not quantized"
		if o.Quant != nil {
			what = o.Quant.String()
		}
		fmt.Fprintf(b, "  %s: %s\n", strconv.Quote(o.Module), what)
	}
	if len(q.Modules) > 0 {
		parts := make([]string, len(q.Modules))
		for i, g := range q.Modules {
			parts[i] = fmt.Sprintf("%d %s", g.Modules, g.Quant)
		}
		fmt.Fprintf(b, "quantized modules: %s\n", strings.Join(parts, "; "))
	}
	if len(q.Unknown) > 0 {
		fmt.Fprintf(b, "quantized modules not understood: %d\n", len(q.Unknown))
		for i, u := range q.Unknown {
			if i == maxListed {
				fmt.Fprintf(b, "  ... %d more (see --json)\n", len(q.Unknown)-maxListed)
				break
			}
			fmt.Fprintf(b, "  %s\n", safe.Name(u))
		}
	}
}

// clip shortens a long metadata value for the text report.
func clip(s string, full bool) string {
	if !full && len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// human formats n bytes with a decimal unit, as the rest of the CLI does.
func human(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// humanCount formats a parameter count: 8.03 B, 135 M, 12.3 k.
func humanCount(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10)
	case n < 1e6:
		return fmt.Sprintf("%.3g k", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.3g M", float64(n)/1e6)
	}
	return fmt.Sprintf("%.3g B", float64(n)/1e9)
}
