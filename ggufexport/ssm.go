package ggufexport

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
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
	if fmt.Sprint(gshape) != fmt.Sprint(shape) {
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
