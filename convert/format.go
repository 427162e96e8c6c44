package convert

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mlxconv/mlxconv/internal/safe"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
)

// Describe returns a one-line description of what produces output tensor
// i: the action with its parameters, how the input is assembled, and why.
func (p *mlxPlan) Describe(i int) string {
	t := &p.Tensors[i]
	j := &p.Jobs[t.Job]
	var b strings.Builder
	in := j.Inputs[0]
	switch j.Action {
	case actCopy:
		b.WriteString("copy")
	case actCast:
		fmt.Fprintf(&b, "cast %s->%s", in.DType.SafetensorsName(), j.DType.SafetensorsName())
	case actQuantize:
		fmt.Fprintf(&b, "quantize %s %d-bit g%d", j.Quant.Mode, j.Quant.Bits, j.Quant.GroupSize)
		if j.DType != mlx.Invalid {
			fmt.Fprintf(&b, " from %s->%s", in.DType.SafetensorsName(), j.DType.SafetensorsName())
		} else {
			fmt.Fprintf(&b, " from %s", in.DType.SafetensorsName())
		}
	case actDequantize:
		fmt.Fprintf(&b, "dequantize %s %d-bit g%d", j.Quant.Mode, j.Quant.Bits, j.Quant.GroupSize)
	}
	if j.Action == actQuantize && t.Name != in.Name {
		// scales/biases of a quantized weight: name the weight
		fmt.Fprintf(&b, " of %s", in.Name)
	}
	switch x := j.Inputs[0]; {
	case x.Op == source.OpStack && x.Sources[0].Run > 0:
		s := x.Sources[0]
		fmt.Fprintf(&b, ", %s[%d::%d] along the split axis", s.Name, s.Offset%s.Stride/s.Run, s.Stride/s.Run)
	case x.Op == source.OpStack:
		fmt.Fprintf(&b, ", stack %d experts", len(x.Sources))
	case x.Op != source.OpDirect:
		fmt.Fprintf(&b, ", %s", x.Op)
	case x.Sources[0].Name != x.Name:
		fmt.Fprintf(&b, ", from %s", x.Sources[0].Name)
	}
	b.WriteString(derivation(j.Inputs[0]))
	if j.Note != "" {
		fmt.Fprintf(&b, " [%s]", j.Note)
	}
	return b.String()
}

// WriteText writes the plan as the --dry-run listing: a header, one line
// per output tensor (name, dtype, shape, action, shard), and the totals.
func (p *mlxPlan) WriteText(w io.Writer) error {
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "model type: %s (architecture %s)\n", safe.Name(p.ModelType), p.Arch)
	if p.DType != mlx.Invalid {
		fmt.Fprintf(&hdr, "dtype: %s\n", p.DType)
	} else {
		hdr.WriteString("dtype: as stored\n")
	}
	switch {
	case p.Quant != nil:
		fmt.Fprintf(&hdr, "quantization: %s %d-bit, group %d", p.Quant.Mode, p.Quant.Bits, p.Quant.GroupSize)
		if p.Recipe != "" {
			fmt.Fprintf(&hdr, ", recipe %s", p.Recipe)
		}
		hdr.WriteString("\n")
	case p.Dequantize:
		hdr.WriteString("quantization: dequantize\n")
	default:
		hdr.WriteString("quantization: none\n")
	}
	if _, err := io.WriteString(w, hdr.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tDTYPE\tSHAPE\tSHARD\tACTION")
	for i := range p.Tensors {
		t := &p.Tensors[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", safe.Name(t.Name), t.DType.SafetensorsName(), shapeString(t.Shape), t.Shard+1, safe.Name(p.Describe(i)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var tail strings.Builder
	for i, s := range p.Shards {
		fmt.Fprintf(&tail, "shard %d: %s, %d tensors, %s\n", i+1, safe.Name(s.Name), len(s.Tensors), byteSize(s.DataSize))
	}
	fmt.Fprintf(&tail, "total: %d tensors, %s (%d bytes), %d parameters, %.3f bits per weight\n",
		len(p.Tensors), byteSize(p.TotalSize), p.TotalSize, p.TotalParameters, p.BitsPerWeight())
	if len(p.Aux) > 0 {
		fmt.Fprintf(&tail, "copied: %s\n", safe.Name(strings.Join(p.Aux, ", ")))
	}
	_, err := io.WriteString(w, tail.String())
	return err
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// byteSize formats n with a binary unit (KiB, MiB, GiB).
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// ParseSize parses a byte size: a plain number of bytes, or a number with
// a decimal (KB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB) unit; "B" is
// optional and case is ignored ("5GiB", "500mb", "1.5GB").
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%w: size %q: want a number of bytes with an optional unit (e.g. 5GiB, 500MB)", ErrOptions, s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%w: size %q: unknown unit %q", ErrOptions, s, t[i:])
	}
	v := f * mult
	if v < 1 || v > 1<<62 {
		return 0, fmt.Errorf("%w: size %q is out of range", ErrOptions, s)
	}
	return int64(v), nil
}

// derivation describes what a source op does to the input's bytes beyond
// stacking or viewing: FP8 block dequantization, a constant factor.
func derivation(x *source.Input) string {
	var b strings.Builder
	if len(x.Scales) > 0 {
		fmt.Fprintf(&b, ", fp8 %dx%d-block dequant", x.Block, x.Block)
	}
	if x.Mul != 0 {
		fmt.Fprintf(&b, ", times %v", x.Mul)
	}
	return b.String()
}
