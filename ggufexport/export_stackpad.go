package ggufexport

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/model/source"
)

// stackPart keeps c when src is part N of one of the architecture's
// stacks (prefix + N + ".weight"), to be stacked by finishStacks; it
// reports whether it did.
func (cl *candidateList) stackPart(src string, c candidate) bool {
	name := textModelName(cl.arch, src)
	for prefix, base := range cl.arch.Stack {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(rest, ".weight")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || strconv.Itoa(n) != num {
			return false
		}
		if cl.stacks == nil {
			cl.stacks = map[string]map[int]candidate{}
		}
		if cl.stacks[base] == nil {
			cl.stacks[base] = map[int]candidate{}
		}
		c.src = src
		cl.stacks[base][n] = c
		return true
	}
	return false
}

// finishStacks adds one candidate per stack: its parts 0..k-1 stacked
// along a new leading axis (torch.stack), float tensors read as stored or
// MLX-quantized modules of one quantization (weights, scales and biases
// stacked alike: a quantized row depends on its own row only).
func (cl *candidateList) finishStacks() error {
	bases := make([]string, 0, len(cl.stacks))
	for b := range cl.stacks {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	for _, base := range bases {
		parts := cl.stacks[base]
		list := make([]candidate, len(parts))
		for i := range list {
			p, ok := parts[i]
			if !ok {
				return fmt.Errorf("%w: %s: part %d of %d is missing", ErrExport, base, i, len(parts))
			}
			list[i] = p
		}
		c, err := stackCandidates(list)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrExport, base, err)
		}
		c.name, c.bid = base+".weight", -1
		cl.out = append(cl.out, c)
	}
	return nil
}

// stackCandidates stacks the parts' float inputs, or their quantized
// modules' weights, scales and biases.
func stackCandidates(parts []candidate) (candidate, error) {
	c := candidate{src: parts[0].src}
	if parts[0].quant == nil {
		in, err := stackInputs(parts, func(p candidate) *source.Input { return p.float })
		if err != nil {
			return c, err
		}
		c.float, c.shape = in, slices.Clone(in.Shape)
		return c, nil
	}
	m0 := parts[0].quant
	m := &source.Module{Path: m0.Path, Kind: m0.Kind, Quant: m0.Quant}
	for _, p := range parts {
		if p.quant == nil || p.quant.Quant == nil || m0.Quant == nil || *p.quant.Quant != *m0.Quant || p.quant.Bias != nil || (p.quant.Biases == nil) != (m0.Biases == nil) {
			return c, fmt.Errorf("%q is not quantized as %q", p.src, parts[0].src)
		}
	}
	var err error
	if m.Weight, err = stackInputs(parts, func(p candidate) *source.Input { return p.quant.Weight }); err != nil {
		return c, err
	}
	if m.Scales, err = stackInputs(parts, func(p candidate) *source.Input { return p.quant.Scales }); err != nil {
		return c, err
	}
	if m0.Biases != nil {
		if m.Biases, err = stackInputs(parts, func(p candidate) *source.Input { return p.quant.Biases }); err != nil {
			return c, err
		}
	}
	c.quant, c.shape = m, append([]int{len(parts)}, parts[0].shape...)
	return c, nil
}

// stackInputs stacks one input of every part: each one tensor as stored,
// all of one dtype and shape.
func stackInputs(parts []candidate, get func(candidate) *source.Input) (*source.Input, error) {
	var out *source.Input
	for _, p := range parts {
		in := get(p)
		if in == nil || in.Op != source.OpDirect || len(in.Sources) != 1 || in.Scales != nil || in.Mul != 0 || in.DType != in.Sources[0].DType {
			return nil, fmt.Errorf("%q is not a tensor as stored", p.src)
		}
		if out == nil {
			out = &source.Input{Name: in.Name, DType: in.DType, Shape: append([]int{len(parts)}, in.Shape...), Op: source.OpStack}
		} else if in.DType != out.DType || !slices.Equal(in.Shape, out.Shape[1:]) {
			return nil, fmt.Errorf("%q (%s %v) does not stack with %q", p.src, in.DType, in.Shape, parts[0].src)
		}
		out.Sources = append(out.Sources, in.Sources[0])
	}
	return out, nil
}

// padRows returns the row count c is padded to with zero rows (0 for
// none): config vocab_size, for the architecture's PadRows tensors with
// fewer rows (Gemma3NModel.modify_tensors).
func (pl *exportPlanner) padRows(c *candidate, rows int) (int, error) {
	if !slices.Contains(pl.arch.PadRows, c.name) {
		return 0, nil
	}
	vocab, ok, err := pl.h.FindInt("vocab_size")
	if err != nil || !ok || vocab <= int64(rows) {
		return 0, err
	}
	if vocab > maxVocabSize {
		return 0, fmt.Errorf("%w: vocab_size %d out of range", ErrExport, vocab)
	}
	return int(vocab), nil
}

// zeroRow is one row of ne0 zeros in t, as the converter's quantizers
// encode it (gguf-py), for the padding rows.
func zeroRow(t gguf.Type, ne0 uint64) ([]byte, error) {
	if ne0 > 1<<24 {
		return nil, fmt.Errorf("%w: a row of %d elements to pad", ErrExport, ne0)
	}
	return gguf.AppendQuantize(nil, t, make([]float32, ne0))
}

// dataBytes is the size of the part of t's size bytes its rows read from
// the checkpoint fill: all of them, or the rows before the padding.
func (t *ExportTensor) dataBytes(size uint64) int64 {
	if t.pad == 0 || len(t.Shape) == 0 {
		return int64(size)
	}
	rows := t.Shape[len(t.Shape)-1]
	return int64(size / rows * uint64(t.pad))
}

// writePadding writes t's zero padding rows at off (the tensor's offset).
func writePadding(f interface {
	WriteAt(p []byte, off int64) (int, error)
}, t *ExportTensor, off int64, size uint64) error {
	if t.pad == 0 {
		return nil
	}
	typ, err := gguf.ParseType(t.Type)
	if err != nil {
		return err
	}
	row, err := zeroRow(typ, t.Shape[0])
	if err != nil {
		return err
	}
	data := t.dataBytes(size)
	rows := (int64(size) - data) / int64(len(row))
	if rows*int64(len(row)) != int64(size)-data {
		return fmt.Errorf("%w: %q: padding of %d bytes is not whole rows", ErrExport, t.Name, int64(size)-data)
	}
	buf := make([]byte, 0, min(rows, max(1, (1<<20)/int64(len(row))))*int64(len(row)))
	for len(buf) < cap(buf) {
		buf = append(buf, row...)
	}
	for at := data; at < int64(size); at += int64(len(buf)) {
		n := min(int64(len(buf)), int64(size)-at)
		if _, err := f.WriteAt(buf[:n], off+at); err != nil {
			return err
		}
	}
	return nil
}
