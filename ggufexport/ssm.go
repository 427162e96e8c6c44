package ggufexport

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// The family's TensorRule (model.GGUF.Tensors) in the export: the GGUF
// shape and the value transform of one tensor.

// ruleKey is a GGUF tensor name without its "blk.N." prefix.
func ruleKey(name string) string {
	if rest, ok := strings.CutPrefix(name, "blk."); ok {
		if _, tail, ok := strings.Cut(rest, "."); ok {
			return tail
		}
	}
	return name
}

// tensorRule applies the family's rule for c, if any: it returns the GGUF
// shape (numpy order) and the transforms' descriptions, and sets op's
// value transform.
func (pl *exportPlanner) tensorRule(c *candidate, shape []int, op *tensorOp) ([]int, []string, error) {
	rule, ok := pl.arch.Tensors[ruleKey(c.name)]
	if !ok {
		return shape, nil, nil
	}
	gshape, err := rule.Reshape(pl.h, c.src, shape)
	if err != nil {
		return nil, nil, err
	}
	var desc []string
	if !slices.Equal(gshape, shape) {
		desc = append(desc, fmt.Sprintf("reshape %v", gshape))
	}
	if rule.NegExp {
		if c.quant != nil {
			return nil, nil, fmt.Errorf("%w: %q: -exp of a quantized tensor", ErrExport, c.src)
		}
		op.negExp = true
		desc = append(desc, "-exp")
	}
	return gshape, desc, nil
}

// negExp makes x -exp(x) in float32, as torch computes it on the widened
// float32 values (a float16 source stays float16 in the converter: the
// result is rounded to float16). A float32 exp is torch's (torchExp: MKL's
// for bfloat16 values, else correctly rounded, 1 ulp off in ~1% of
// float32 inputs); a float16 one (torch's own kernel, not MKL's) is
// correctly rounded.
func negExp(x []float32, dt mlx.DType) {
	for i, v := range x {
		r := -torchExp(v)
		if dt == mlx.F16 {
			r = -float32(math.Exp(float64(v)))
			r = npfloat.F16ToF32(npfloat.F32ToF16(r))
		}
		x[i] = r
	}
}

// vocabSizeOf is the vocabulary size the tokenizer is padded to:
// vocab_size (0 when absent or out of range), after the family's VocabPad.
func vocabSizeOf(a *archInfo, h *hparams) (int, error) {
	n, ok, err := h.FindInt("vocab_size")
	if err != nil || !ok || n <= 0 || n > maxVocabSize {
		return 0, err
	}
	return padVocab(a, h, int(n))
}

// padVocab is the vocabulary size after the family's VocabPad (n itself
// when it has none, or when n is 0: no vocab_size).
func padVocab(a *archInfo, h *hparams, n int) (int, error) {
	if a.VocabPad == nil || n == 0 {
		return n, nil
	}
	m, err := a.VocabPad(h)
	if err != nil {
		return 0, err
	}
	if m > maxVocabSize {
		return 0, fmt.Errorf("%w: vocabulary padding multiple %d", ErrExport, m)
	}
	padded := model.RoundUp(int64(n), m)
	if padded > maxVocabSize {
		return 0, fmt.Errorf("%w: padded vocabulary size %d", ErrExport, padded)
	}
	return int(padded), nil
}

// splitParts returns the candidates of a tensor the family's Splits cut
// into equal parts along the first axis (each part's inputs a byte range of
// the source's); false when src is not split. A part that cannot be cut
// is left to the unmapped-name error.
func (cl *candidateList) splitParts(src string, c candidate) ([]candidate, bool) {
	if len(cl.arch.Splits) == 0 {
		return nil, false
	}
	dot := strings.LastIndexByte(src, '.')
	if dot < 0 {
		return nil, false
	}
	path, param := src[:dot], src[dot+1:]
	rest, ok := strings.CutPrefix(path, cl.arch.BlockPrefix())
	if !ok {
		return nil, false
	}
	num, sub, ok := strings.Cut(rest, ".")
	names := cl.arch.Splits[sub]
	bid, err := strconv.Atoi(num)
	if !ok || len(names) == 0 || err != nil || bid < 0 || strconv.Itoa(bid) != num {
		return nil, false
	}
	var out []candidate
	for i, base := range names {
		p, err := c.rowPart(i, len(names))
		if err != nil {
			cl.unmapped = append(cl.unmapped, src)
			return nil, true
		}
		p.src, p.name, p.bid = src, "blk."+num+"."+base+"."+param, bid
		out = append(out, p)
	}
	return out, true
}

// rowPart is part i of n of c along its first axis.
func (c candidate) rowPart(i, n int) (candidate, error) {
	if len(c.shape) < 2 || c.shape[0]%n != 0 {
		return c, fmt.Errorf("%w: shape %v does not split in %d", ErrExport, c.shape, n)
	}
	p := c
	p.shape = slices.Clone(c.shape)
	p.shape[0] /= n
	if c.float != nil {
		in, err := inputRows(c.float, i, n)
		if err != nil {
			return c, err
		}
		p.float = in
		return p, nil
	}
	m := *c.quant
	for _, in := range []**source.Input{&m.Weight, &m.Scales, &m.Biases, &m.Bias} {
		if *in == nil {
			continue
		}
		cut, err := inputRows(*in, i, n)
		if err != nil {
			return c, err
		}
		*in = cut
	}
	p.quant = &m
	return p, nil
}

// inputRows is rows [i·r/n, (i+1)·r/n) of a direct input of r rows: one
// byte range of its one source.
func inputRows(in *source.Input, i, n int) (*source.Input, error) {
	if in.Op != source.OpDirect || len(in.Sources) != 1 || in.Sources[0].Run != 0 || len(in.Shape) == 0 || in.Shape[0]%n != 0 ||
		in.Sources[0].DType != in.DType {
		return nil, fmt.Errorf("%w: %q is not a direct tensor of %d equal row blocks", ErrExport, in.Name, n)
	}
	cp := *in
	cp.Shape = slices.Clone(in.Shape)
	cp.Shape[0] /= n
	s := in.Sources[0]
	s.Shape = slices.Clone(cp.Shape)
	s.Offset += int64(i) * source.NumElements(cp.Shape) * int64(in.DType.Size())
	cp.Sources = []source.SourceTensor{s}
	return &cp, nil
}

// blockCountOf is the block count: the length of the family's LayerList
// when the config has that list, else num_hidden_layers (or its aliases).
func blockCountOf(a *archInfo, h *hparams) (int64, error) {
	if a.LayerList != "" {
		if v, ok := h.Get(a.LayerList); ok {
			list, isList := v.([]pyjson.Value)
			if !isList {
				return 0, model.ConfigError(h.Field(a.LayerList), "a list", v)
			}
			return int64(len(list)), nil
		}
	}
	return h.ReqU32("n_layers", "num_hidden_layers", "n_layer", "num_layers")
}

// archNameOf is the GGUF architecture of the export: the family's ArchFor
// of the config, else its Arch.
func archNameOf(a *archInfo, h *hparams) string {
	if a.ArchFor != nil {
		return a.ArchFor(h)
	}
	return a.Arch
}
