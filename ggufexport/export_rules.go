package ggufexport

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// The families' modify_tensors steps beyond renaming (model.TensorRule):
// squeeze, -exp, row gathers (one tensor into several GGUF tensors) and
// column gathers. A gathered tensor is one whole unit (its rows come from
// anywhere in the source); the rest streams as before.

// ruleFor returns the family's rule for the block tensor name (GGUF.Tensors
// is keyed by the name after "blk.N."), or nil.
func ruleFor(a *archInfo, name string, bid int) *model.TensorRule {
	if bid < 0 || len(a.Tensors) == 0 {
		return nil
	}
	r, ok := a.Tensors[strings.TrimPrefix(name, "blk."+strconv.Itoa(bid)+".")]
	if !ok {
		return nil
	}
	return &r
}

// squeezeShape drops the axes of size 1 (torch's squeeze).
func squeezeShape(s []int) []int {
	return slices.DeleteFunc(slices.Clone(s), func(d int) bool { return d == 1 })
}

// applyRule returns c as its rule makes it: the squeezed shape, and one
// candidate per row part (renamed, with its rows).
func (cl *candidateList) applyRule(c candidate) ([]candidate, error) {
	r := ruleFor(cl.arch, c.name, c.bid)
	if r == nil {
		return []candidate{c}, nil
	}
	c.rule = r
	if r.Squeeze && c.quant == nil {
		c.shape = squeezeShape(c.shape)
		in := *c.float
		in.Shape = squeezeShape(in.Shape)
		c.float = &in
	}
	if r.Rows == nil {
		return []candidate{c}, nil
	}
	if len(c.shape) < 1 || len(c.shape) > 2 {
		return nil, fmt.Errorf("%w: %q: a row gather needs a 1-D or 2-D tensor, not %v", ErrExport, c.src, c.shape)
	}
	n := c.shape[0]
	parts, err := r.Rows(cl.h, n)
	if err != nil || parts == nil {
		return []candidate{c}, err
	}
	out := make([]candidate, 0, len(parts))
	for _, p := range parts {
		if err := model.CheckRows(strconv.Quote(c.src), p.Rows, n); err != nil {
			return nil, err
		}
		cp := c
		cp.rows = p.Rows
		cp.shape = slices.Clone(c.shape)
		cp.shape[0] = len(p.Rows)
		if p.Name != "" {
			cp.name = "blk." + strconv.Itoa(c.bid) + "." + p.Name + paramSuffix(c.name)
		}
		out = append(out, cp)
	}
	return out, nil
}

// paramSuffix is ".weight" or ".bias" when name ends with it, else "".
func paramSuffix(name string) string {
	for _, p := range []string{".weight", ".bias"} {
		if strings.HasSuffix(name, p) {
			return p
		}
	}
	return ""
}

// planRule sets up c's rule in op (after the op's mode is known): the
// gathers and -exp; it returns the transforms' descriptions.
func (pl *exportPlanner) planRule(t *ExportTensor, c *candidate, op *tensorOp) ([]string, error) {
	r := c.rule
	if r == nil {
		return nil, nil
	}
	var tr []string
	if c.rows != nil {
		op.gather = c.rows
		if n := c.srcRows(); len(c.rows) == n {
			tr = append(tr, "reorder rows")
		} else {
			tr = append(tr, fmt.Sprintf("rows %d of %d", len(c.rows), n))
		}
	}
	if r.Cols != nil {
		more, err := pl.planCols(t, c, op)
		if err != nil {
			return nil, err
		}
		tr = append(tr, more...)
	}
	return tr, nil
}

// planCols sets up the rule's column gather: a quantized tensor's moves
// whole groups, or, where it splits them, is applied to the dequantized
// values (no repack then).
func (pl *exportPlanner) planCols(t *ExportTensor, c *candidate, op *tensorOp) ([]string, error) {
	cols, err := c.rule.Cols(pl.h, op.ne0)
	if err != nil || cols == nil {
		return nil, err
	}
	if err := model.CheckPerm(strconv.Quote(c.src)+" columns", cols, op.ne0); err != nil {
		return nil, err
	}
	if c.quant != nil {
		groups, err := groupPerm(cols, op.q.GroupSize)
		if err != nil {
			if op.mode == opRepack {
				want := pl.outType
				if forcedF32(c.name, len(c.shape)) {
					want = OutF32
				}
				t.Exact, t.Note = false, ""
				planDequant(t, op, want)
			}
			op.cols, op.colsAfter = cols, true
			return []string{"permute columns after dequantizing"}, nil
		}
		cols = groups
	}
	op.cols = cols
	return []string{"permute columns"}, nil
}

// srcRows is the size of the source's axis 0 (elements of a 1-D one).
func (c *candidate) srcRows() int {
	if c.quant != nil {
		return c.quant.Weight.Shape[0]
	}
	return c.float.Shape[0]
}

// groupPerm turns a column permutation of a quantized tensor into one of
// its groups; it must move whole groups.
func groupPerm(cols []int, gs int) ([]int, error) {
	if gs <= 0 || len(cols)%gs != 0 {
		return nil, fmt.Errorf("%d columns in groups of %d", len(cols), gs)
	}
	out := make([]int, len(cols)/gs)
	for g := range out {
		s := cols[g*gs]
		for j := 0; j < gs; j++ {
			if s%gs != 0 || cols[g*gs+j] != s+j {
				return nil, fmt.Errorf("the column permutation splits quantization groups of %d (dequantize first)", gs)
			}
		}
		out[g] = s / gs
	}
	return out, nil
}

// rawAddOne returns, for an input that is an MLX sanitize's +1
// (model.ValueAddOne) of one source tensor, that source as stored: the
// converter adds 1 itself, to the value it holds (float32 for a bfloat16
// tensor), which the export then does too (tensorOp.normShift).
func rawAddOne(in *source.Input) *source.Input {
	if in.Op != source.OpValue || in.Value != model.ValueAddOne || len(in.Sources) != 1 {
		return nil
	}
	s := in.Sources[0]
	return &source.Input{Name: in.Name, DType: s.DType, Shape: slices.Clone(in.Shape), Op: source.OpDirect, Sources: in.Sources}
}

// whole reports whether op needs its tensor as one unit.
func (op *tensorOp) whole() bool { return op.gather != nil || op.cols != nil }

// regather applies the row and column gathers to a whole unit's inputs
// (rows rows each; a 1-D tensor's elements are its rows) and returns them
// with the output's row count.
func (op *tensorOp) regather(ins [][]byte, rows int64) ([][]byte, int64, error) {
	out := make([][]byte, len(ins))
	copy(out, ins)
	units := int(rows)
	if op.oneD && op.mode == opFloat {
		units = len(ins[0]) / op.inDType.Size()
	}
	if op.gather != nil {
		for i, b := range out {
			g, err := gatherUnits(b, units, op.gather)
			if err != nil {
				return nil, 0, err
			}
			out[i] = g
		}
		units = len(op.gather)
	}
	if op.oneD && op.mode == opFloat {
		rows = 1
	} else {
		rows = int64(units)
	}
	if op.cols != nil && !op.colsAfter {
		for i, b := range out {
			// Float: elements; quantized: groups of every input.
			g, err := permuteCols(b, int(rows), op.cols)
			if err != nil {
				return nil, 0, err
			}
			out[i] = g
		}
	}
	return out, rows, nil
}

// gatherUnits returns the units idx of b (n equal units), in order.
func gatherUnits(b []byte, n int, idx []int) ([]byte, error) {
	if n <= 0 || len(b)%n != 0 {
		return nil, fmt.Errorf("gguf: %d bytes do not split into %d rows", len(b), n)
	}
	u := len(b) / n
	out := make([]byte, 0, u*len(idx))
	for _, i := range idx {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("gguf: row %d outside [0, %d)", i, n)
		}
		out = append(out, b[i*u:(i+1)*u]...)
	}
	return out, nil
}

// permuteCols permutes each of rows rows of b: its len(perm) equal units
// in perm's order.
func permuteCols(b []byte, rows int, perm []int) ([]byte, error) {
	if rows <= 0 || len(b)%rows != 0 {
		return nil, fmt.Errorf("gguf: %d bytes do not split into %d rows", len(b), rows)
	}
	rb := len(b) / rows
	if rb%len(perm) != 0 {
		return nil, fmt.Errorf("gguf: a row of %d bytes does not split into %d columns", rb, len(perm))
	}
	u := rb / len(perm)
	out := make([]byte, len(b))
	for r := 0; r < rows; r++ {
		row, dst := b[r*rb:(r+1)*rb], out[r*rb:(r+1)*rb]
		for j, p := range perm {
			copy(dst[j*u:(j+1)*u], row[p*u:(p+1)*u])
		}
	}
	return out, nil
}
