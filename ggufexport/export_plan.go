package ggufexport

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
)

// candidateList collects the candidates of one export: the parameters
// that map to GGUF names, the names that do not, and whether an output
// head was among them.
type candidateList struct {
	arch     *archInfo
	h        *hparams
	out      []candidate
	unmapped []string
	haveHead bool
	arrays   []layerScalar                // LayerArrays parameters
	err      error                        // the first failed family tensor rule
	stacks   map[string]map[int]candidate // GGUF base name -> part index -> part
}

// add maps src to its GGUF name and keeps c under it (the architecture
// may drop the head).
func (cl *candidateList) add(src string, c candidate) {
	if key, bid, ok := layerArrayKey(cl.arch, src); ok {
		cl.arrays = append(cl.arrays, layerScalar{key: key, bid: bid, src: src, in: c.float})
		return
	}
	if cl.stackPart(src, c) {
		return
	}
	if parts, ok := cl.splitParts(src, c); ok {
		cl.out = append(cl.out, parts...)
		return
	}
	name, bid, ok := tensorName(cl.arch, src)
	if !ok {
		cl.unmapped = append(cl.unmapped, src)
		return
	}
	if cl.arch.DropHead && strings.HasPrefix(name, "output.") {
		return
	}
	if strings.HasPrefix(name, "output.") {
		cl.haveHead = true
	}
	c.src, c.name, c.bid = src, name, bid
	cs, err := cl.applyRule(c)
	if err != nil && cl.err == nil {
		cl.err = err
	}
	cl.out = append(cl.out, cs...)
}

// addModule adds a module's tensors: for an MLX-quantized module its
// weight (in the dequantized shape) and bias, otherwise every parameter.
func (cl *candidateList) addModule(m *source.Module) error {
	if m.Quant == nil {
		for _, p := range m.Params {
			cl.add(m.Path+"."+p.Name, candidate{float: p.Input, shape: slices.Clone(p.Input.Shape)})
		}
		return nil
	}
	shape := slices.Clone(m.Weight.Shape)
	if len(shape) < 2 {
		return fmt.Errorf("%w: quantized module %q has a %d-D weight", ErrExport, m.Path, len(shape))
	}
	shape[len(shape)-1] = shape[len(shape)-1] * 32 / m.Quant.Bits
	cl.add(m.Path+".weight", candidate{quant: m, shape: shape})
	if m.Bias != nil {
		cl.add(m.Path+".bias", candidate{float: m.Bias, shape: slices.Clone(m.Bias.Shape)})
	}
	return nil
}

// unmappedError names the tensors without a GGUF name.
func (cl *candidateList) unmappedError() error {
	quoted := make([]string, len(cl.unmapped))
	for i, n := range cl.unmapped {
		quoted[i] = strconv.Quote(n) // names come from the file
	}
	return fmt.Errorf("%w: cannot map tensor(s) to GGUF names for %s: %s", ErrExport, cl.arch.Arch, strings.Join(quoted, ", "))
}

// addCheckpointHead adds the checkpoint's own lm_head tensor, read
// directly, if it has one.
func (cl *candidateList) addCheckpointHead(inv *source.Inventory) {
	for _, t := range inv.Tensors {
		if t.Name == "lm_head.weight" || t.Name == "language_model.lm_head.weight" {
			in := &source.Input{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape), Op: source.OpDirect, Sources: []source.SourceTensor{t}}
			cl.add(t.Name, candidate{float: in, shape: slices.Clone(t.Shape)})
			return
		}
	}
}

// isExpertStack reports whether c is a block's stacked experts tensor.
func (c *candidate) isExpertStack() bool {
	return strings.Contains(c.name, "_exps.") && c.bid >= 0
}

// lastSourcePos is the largest reading position among the inputs' source
// tensors (-1 for none).
func lastSourcePos(pos map[[2]any]int64, ins ...*source.Input) int64 {
	p := int64(-1)
	for _, in := range ins {
		if in == nil {
			continue
		}
		for _, s := range in.Sources {
			if v, ok := pos[[2]any{s.File, s.Name}]; ok && v > p {
				p = v
			}
		}
	}
	return p
}

// orderCandidates sorts the candidates into emission order: the position
// of the last source tensor; stacked experts of a block all at the
// block's last expert tensor, in the converter's merge order.
func (pl *exportPlanner) orderCandidates(out []candidate) {
	pos := pl.sourcePositions()
	expBlock := map[int]int64{}
	for i := range out {
		c := &out[i]
		if c.quant != nil {
			c.pos = lastSourcePos(pos, c.quant.Weight, c.quant.Scales, c.quant.Biases)
		} else {
			c.pos = lastSourcePos(pos, c.float)
		}
		if c.isExpertStack() {
			if p, ok := expBlock[c.bid]; !ok || c.pos > p {
				expBlock[c.bid] = c.pos
			}
			parts := strings.SplitN(c.name, ".", 3) // blk, N, base.param
			base := strings.TrimSuffix(strings.TrimSuffix(parts[len(parts)-1], ".weight"), ".bias")
			c.sub = 1 + slices.Index(pl.arch.ExpertOrder, base)
		}
	}
	for i := range out {
		c := &out[i]
		if c.isExpertStack() {
			c.pos = expBlock[c.bid]
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].pos != out[j].pos {
			return out[i].pos < out[j].pos
		}
		return out[i].sub < out[j].sub
	})
}

// qkPermutation sets up Llama's Q/K permutation for c, if it is a Q or K
// tensor, and returns the transform's description.
func (pl *exportPlanner) qkPermutation(c *candidate, shape []int, op *tensorOp) ([]string, error) {
	heads, err := pl.qkHeads(c.name)
	if err != nil || heads == 0 {
		return nil, err
	}
	rows := int64(shape[0])
	if rows%heads != 0 || (rows/heads)%2 != 0 {
		return nil, fmt.Errorf("%w: %q: %d rows do not split into %d heads of an even size", ErrExport, c.src, rows, heads)
	}
	op.permGroup = rows / heads
	return []string{fmt.Sprintf("permute %d heads", heads)}, nil
}

// qkHeads is the number of heads a Q (attention heads) or K (key/value
// heads) tensor is permuted in; 0 for any other tensor.
func (pl *exportPlanner) qkHeads(name string) (int64, error) {
	nHead, _, err := pl.h.FindU32("n_heads", "num_attention_heads")
	if err != nil {
		return 0, err
	}
	nKV, kvOK, err := pl.h.FindU32("n_kv_heads", "num_key_value_heads")
	if err != nil {
		return 0, err
	}
	switch {
	case strings.HasSuffix(name, ".attn_q.weight") || strings.HasSuffix(name, ".attn_q.bias"):
		return nHead, nil
	case strings.HasSuffix(name, ".attn_k.weight") || strings.HasSuffix(name, ".attn_k.bias"):
		if kvOK && nKV != nHead {
			return nKV, nil
		}
		return nHead, nil
	}
	return 0, nil
}

// planFloat decides a float tensor: convert to its output type. It
// returns the transforms (norm shift, expert stacking) and notes to add.
func (pl *exportPlanner) planFloat(t *ExportTensor, op *tensorOp, c *candidate, in *source.Input, gshape []int) (transforms, notes []string, err error) {
	ndims, ne0 := len(gshape), 1
	if ndims > 0 {
		ne0 = gshape[ndims-1]
	}
	switch in.DType {
	case mlx.F32, mlx.F16, mlx.BF16:
	default:
		return nil, nil, fmt.Errorf("%w: tensor %q is %s, not a float", ErrExport, c.src, in.DType)
	}
	op.mode, op.inDType = opFloat, in.DType
	t.From = strings.ToLower(in.DType.SafetensorsName())
	if pl.arch.NormShift && strings.HasSuffix(c.src, "norm.weight") && !op.normShift {
		op.normShift = true
		transforms = append(transforms, "+1")
	}
	typ := pl.floatType(c.name, ndims, ne0)
	op.out = typ
	t.Op = "convert"
	switch {
	case typ == gguf.F32, typ == gguf.F16 && in.DType == mlx.F16, typ == gguf.BF16 && in.DType == mlx.BF16:
		t.Exact = true
	default:
		notes = append(notes, fmt.Sprintf("%s rounded to %s", t.From, typ))
	}
	if in.Op == source.OpStack {
		transforms = append(transforms, fmt.Sprintf("stack %d experts", len(in.Sources)))
	}
	return transforms, notes, nil
}

// ggmlShape is a numpy-order shape in ggml order (a scalar as [1]).
func ggmlShape(shape []int) []uint64 {
	out := make([]uint64, len(shape))
	for i, d := range shape {
		out[len(shape)-1-i] = uint64(d)
	}
	if len(out) == 0 {
		out = []uint64{1}
	}
	return out
}

// repacksTo reports whether the requested output type allows repacking
// MLX-quantized tensors (auto, or one of the repack targets).
func repacksTo(want OutType) bool {
	return want == OutAuto || want == OutQ4_0 || want == OutQ4_1 || want == OutQ5_1
}

// repackType is the GGUF type an MLX-quantized tensor repacks into for
// the wanted output type; false when it must be dequantized.
func (pl *exportPlanner) repackType(q mlx.QuantParams, c *candidate, want OutType) (gguf.Type, bool) {
	switch {
	case q.Mode == mlx.MXFP4 && pl.arch.KeepMXFP4:
		return gguf.MXFP4, true
	case !repacksTo(want):
		return 0, false
	case q.Mode == mlx.MXFP4 && want == OutAuto:
		return gguf.MXFP4, true
	case q.Mode == mlx.Affine:
		return affineRepackType(q.Bits, pl.facts[c.src].symmetric, want)
	}
	return 0, false
}

// affineRepackType is repackType for affine quantization: Q4_0 for
// symmetric 4-bit groups, Q4_1 up to 4 bits, Q5_1 up to 5 bits, as far as
// the wanted output type allows.
func affineRepackType(bits int, symmetric bool, want OutType) (gguf.Type, bool) {
	switch {
	case bits == 4 && (want == OutAuto || want == OutQ4_0):
		switch {
		case symmetric:
			return gguf.Q4_0, true
		case want == OutAuto:
			return gguf.Q4_1, true
		}
	case bits <= 4 && (want == OutAuto || want == OutQ4_1):
		return gguf.Q4_1, true
	case bits <= 5 && (want == OutAuto || want == OutQ5_1):
		return gguf.Q5_1, true
	}
	return 0, false
}

// planDequant plans an MLX-quantized tensor that is not repacked:
// dequantize, then encode as the wanted type (auto: Q8_0).
func planDequant(t *ExportTensor, op *tensorOp, want OutType) {
	affine := op.q.Mode == mlx.Affine
	op.mode = opDequant
	typ := gguf.Q8_0
	if want != OutAuto {
		typ = outTypes[want].t
	}
	op.out = typ
	t.Op = "dequantize"
	switch typ {
	case gguf.F32:
		op.deqOut, t.Exact = mlx.F32, true
	case gguf.F16, gguf.BF16:
		d := mlx.F16
		if typ == gguf.BF16 {
			d = mlx.BF16
		}
		op.deqOut = d
		// mx.dequantize computes in the scales' dtype (bf16 for the fp
		// modes), so that output is MLX's own.
		t.Exact = affine && op.scaleDType == d || !affine && d == mlx.BF16
		if !t.Exact {
			t.Note = "MLX's dequantized values rounded to " + typ.String()
		}
	default:
		op.deqOut = mlx.F32
		t.Note = fmt.Sprintf("requantized to %s", typ)
	}
}

// needsQuantFacts reports whether planning c depends on its scales and
// biases: an affine tensor of at most 5 bits that may repack, unless its
// float16 scales make the repack exact and Q4_0 is not an option.
func (pl *exportPlanner) needsQuantFacts(c *candidate) bool {
	if c.quant == nil || c.quant.Quant.Mode != mlx.Affine || c.quant.Quant.Bits > 5 || forcedF32(c.name, len(c.shape)) {
		return false
	}
	want := pl.outType
	if !repacksTo(want) {
		return false
	}
	q40 := c.quant.Quant.Bits == 4 && (want == OutAuto || want == OutQ4_0)
	return c.quant.Scales.DType != mlx.F16 || q40 // else exact without looking
}
