package ggufexport

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/gguf/kquant"
	"github.com/mlxconv/mlxconv/ggufexport/quantplan"
	"github.com/mlxconv/mlxconv/internal/npfloat"
	"github.com/mlxconv/mlxconv/internal/simd"
	"github.com/mlxconv/mlxconv/pipeline"
)

// K-quant output types: the file convert_hf_to_gguf.py --outtype bf16 and
// then llama-quantize IN OUT TYPE make, in one step. The export is planned
// as the bf16 one; package quantplan then picks each tensor's type as
// llama-quantize does, the tensors take llama-quantize's order and its KV
// order (general.quantization_version and general.file_type last, then
// the quantize.imatrix.* keys), and every tensor that changes type is
// quantized from its bf16 values (the intermediate's, so an f16 or f32
// checkpoint is rounded to bf16 first, as in the two-step pipeline) by
// package gguf/kquant, byte for byte as ggml_quantize_chunk.

// QuantOptions are llama-quantize's knobs for the K-quant output types.
type QuantOptions struct {
	// Imatrix is an importance matrix file (llama-imatrix's GGUF or legacy
	// .dat); its path is written to quantize.imatrix.file as given.
	Imatrix string
	// TensorTypes are --tensor-type PATTERN=TYPE options (first match wins).
	TensorTypes []string
	// OutputTensorType and TokenEmbeddingType, if set, are ggml type names.
	OutputTensorType, TokenEmbeddingType string
	// LeaveOutputTensor keeps output.weight in bf16; Pure gives every
	// quantized tensor the file type's default type.
	LeaveOutputTensor, Pure bool
}

// isZero reports whether no knob is set.
func (q QuantOptions) isZero() bool {
	return q.Imatrix == "" && len(q.TensorTypes) == 0 && q.OutputTensorType == "" && q.TokenEmbeddingType == "" &&
		!q.LeaveOutputTensor && !q.Pure
}

// kquantFileType is the K-quant file type of an output type name, if it
// is one.
func kquantFileType(t OutType) (quantplan.FileType, bool) {
	return quantplan.ParseFileType(string(t))
}

// kernelType reports whether a K-quant export can write t: the float
// types, and the block types package gguf/kquant quantizes as
// ggml_quantize_chunk does.
func kernelType(t gguf.Type) bool {
	return t == gguf.F32 || t == gguf.F16 || t == gguf.BF16 || kquant.Supported(t)
}

// quantPlanOptions parses the knobs.
func quantPlanOptions(q QuantOptions, im *Imatrix) (quantplan.Options, error) {
	o := quantplan.Options{Pure: q.Pure, LeaveOutput: q.LeaveOutputTensor, Imatrix: im != nil}
	var err error
	if q.OutputTensorType != "" {
		if o.OutputType, err = gguf.ParseType(q.OutputTensorType); err != nil {
			return o, fmt.Errorf("%w: --output-tensor-type: %w", ErrExport, err)
		}
		o.HasOutputType = true
	}
	if q.TokenEmbeddingType != "" {
		if o.TokenEmbdType, err = gguf.ParseType(q.TokenEmbeddingType); err != nil {
			return o, fmt.Errorf("%w: --token-embedding-type: %w", ErrExport, err)
		}
		o.HasTokenEmbdType = true
	}
	for _, s := range q.TensorTypes {
		ov, err := quantplan.ParseOverride(s)
		if err != nil {
			return o, fmt.Errorf("%w: --tensor-type: %w", ErrExport, err)
		}
		o.Overrides = append(o.Overrides, ov)
	}
	return o, nil
}

// kquantOp is what writing a K-quant tensor adds to its tensorOp: the bf16
// rows the op produces become rows of typ.
type kquantOp struct {
	typ     gguf.Type
	ne0     int
	ne1     int       // rows per expert (the imatrix slice)
	imatrix []float32 // nil, or ne0 weights per expert
}

// applyKQuant retypes, reorders and re-keys a bf16 plan as llama-quantize
// would quantize its file to ft, and returns the new tensor infos.
func applyKQuant(plan *exportPlan, ft quantplan.FileType, opts ExportOptions, im *Imatrix) ([]gguf.TensorInfo, error) {
	if err := retypePlan(plan, ft, opts.Quant, im); err != nil {
		return nil, err
	}
	infos := make([]gguf.TensorInfo, len(plan.Tensors))
	for i, t := range plan.Tensors {
		typ, _ := gguf.ParseType(t.Type)
		infos[i] = gguf.TensorInfo{Name: t.Name, Type: typ, Shape: t.Shape}
	}
	return infos, nil
}

// retypePlan is applyKQuant's planning step.
func retypePlan(plan *exportPlan, ft quantplan.FileType, q QuantOptions, im *Imatrix) error {
	o, err := quantPlanOptions(q, im)
	if err != nil {
		return err
	}
	ts := make([]quantplan.Tensor, len(plan.Tensors))
	names := make([]string, len(plan.Tensors))
	for i, t := range plan.Tensors {
		typ, _ := gguf.ParseType(t.Type)
		ts[i] = quantplan.Tensor{Name: t.Name, Type: typ, Shape: t.Shape}
		names[i] = t.Name
	}
	types, err := quantplan.Plan(ft, quantplan.ModelFromKVs(plan.KVs), ts, o)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrExport, err)
	}
	for i := range plan.Tensors {
		if err := retype(&plan.Tensors[i], ts[i].Type, types[i], im); err != nil {
			return err
		}
	}
	order := quantplan.Order(names)
	sorted := make([]ExportTensor, len(order))
	for k, i := range order {
		sorted[k] = plan.Tensors[i]
	}
	plan.Tensors = sorted
	plan.KVs = quantplan.KVOrder(plan.KVs)
	if im != nil {
		plan.KVs = append(plan.KVs, im.imatrixKVs(q.Imatrix)...)
	}
	return nil
}

// retype sets one tensor's K-quant type.
func retype(t *ExportTensor, from, to gguf.Type, im *Imatrix) error {
	if to == from {
		return nil
	}
	switch {
	case !kernelType(to):
		return fmt.Errorf("%w: %q: no quantizer for %s", ErrExport, t.Name, to)
	case from != gguf.BF16 && from != gguf.F32 && from != gguf.F16:
		return fmt.Errorf("%w: %q: requantizing from type %s is disabled (as in llama-quantize)", ErrExport, t.Name, from)
	case t.extra != nil || t.op == nil:
		return fmt.Errorf("%w: %q: a generated tensor cannot change type", ErrExport, t.Name)
	case im == nil && quantplan.RequiresImatrix(t.Name, to):
		return fmt.Errorf("%w: %q: %s requires an importance matrix (--imatrix)", ErrExport, t.Name, to)
	}
	kq := &kquantOp{typ: to, ne0: int(t.Shape[0]), ne1: 1}
	if len(t.Shape) > 1 {
		kq.ne1 = int(t.Shape[1])
	}
	if err := kq.setImatrix(t, im); err != nil {
		return err
	}
	op := *t.op
	op.kq = kq
	op.desc += " -> " + to.String()
	t.op = &op
	t.Type = to.String()
	t.Exact = false
	note := fmt.Sprintf("%s by llama-quantize's rules, from %s", to, from)
	if kq.imatrix != nil {
		note += " with the importance matrix"
	}
	if t.Note != "" {
		note = t.Note + "; " + note
	}
	t.Note = note
	return nil
}

// setImatrix picks t's importance weights, as llama-quantize: none for a
// tensor the matrix lacks, an error for one of another size (but for the
// token embeddings, which then go without).
func (k *kquantOp) setImatrix(t *ExportTensor, im *Imatrix) error {
	if im == nil || k.typ == gguf.F16 || k.typ == gguf.F32 {
		return nil
	}
	e, ok := im.Entries[t.Name]
	if !ok {
		return nil
	}
	experts := 1
	if len(t.Shape) > 2 {
		experts = int(t.Shape[2])
	}
	switch {
	case len(e) == k.ne0*experts:
		k.imatrix = e
	case t.Name != "token_embd.weight" && t.Name != "per_layer_token_embd.weight":
		return fmt.Errorf("%w: imatrix size %d is different from tensor size %d for %q", ErrExport, len(e), k.ne0*experts, t.Name)
	}
	return nil
}

// kquantChunk is how many values apply widens to float32 at a time (whole
// rows, at least one): a unit's rows are quantized chunk by chunk, so the
// float32 copy stays small whatever the unit size.
const kquantChunk = 1 << 16

// apply turns a unit's rows of bf16 (or f16/f32) bytes into rows of
// k.typ; u locates the rows (expert u.Part, rows u.R0..) for the
// importance matrix.
func (k *kquantOp) apply(src []byte, from gguf.Type, rows int64, u pipeline.Unit) ([]byte, error) {
	var es int
	switch from {
	case gguf.BF16, gguf.F16:
		es = 2
	case gguf.F32:
		es = 4
	default:
		return nil, fmt.Errorf("gguf: cannot quantize from %s", from)
	}
	nr, ne0 := int(rows), k.ne0
	if len(src) != nr*ne0*es {
		return nil, fmt.Errorf("gguf: %d bytes of %s for %d rows of %d", len(src), from, nr, ne0)
	}
	if k.typ == gguf.F16 || k.typ == gguf.F32 {
		x := getF32(nr * ne0)
		defer putF32(x)
		widenInto(x, src, from)
		return gguf.AppendQuantize(nil, k.typ, x)
	}
	rs := int(k.typ.TypeSize()) * ne0 / int(k.typ.BlockSize())
	out := getBuf(nr * rs)
	chunk := max(1, kquantChunk/max(ne0, 1))
	xb := getF32(min(chunk, nr) * ne0)
	defer putF32(xb)
	for r0 := 0; r0 < nr; r0 += chunk {
		r1 := min(nr, r0+chunk)
		x := xb[:(r1-r0)*ne0]
		widenInto(x, src[r0*ne0*es:r1*ne0*es], from)
		var err error
		if k.imatrix == nil || len(k.imatrix) == ne0 {
			err = kquant.Quantize(k.typ, out[r0*rs:r1*rs], x, r1-r0, ne0, k.imatrix)
		} else {
			for r := r0; r < r1 && err == nil; r++ {
				e := u.Part + (int(u.R0)+r)/k.ne1
				w := k.imatrix[e*ne0 : (e+1)*ne0]
				err = kquant.Quantize(k.typ, out[r*rs:(r+1)*rs], x[(r-r0)*ne0:(r-r0+1)*ne0], 1, ne0, w)
			}
		}
		if err != nil {
			putBuf(out)
			return nil, k.rowError(err, x, u.R0+int64(r0))
		}
	}
	return out, nil
}

// rowError restates a kquant error about a non-finite value with the
// tensor's row (the chunk x starts at row r0 of the unit's part).
func (k *kquantOp) rowError(err error, x []float32, r0 int64) error {
	if !errors.Is(err, kquant.ErrNonFinite) {
		return err
	}
	for i, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return fmt.Errorf("%w: row %d, element %d is %v", kquant.ErrNonFinite, r0+int64(i/k.ne0), i%k.ne0, v)
		}
	}
	return err
}

// widenInto decodes len(x) values of type from (bf16, f16 or f32, little
// endian) into x, through the vector kernels where they run.
func widenInto(x []float32, src []byte, from gguf.Type) {
	switch from {
	case gguf.BF16:
		m := len(x) &^ 15
		if !simd.WidenBF16(x[:m], src[:2*m]) {
			m = 0
		}
		for i := m; i < len(x); i++ {
			x[i] = npfloat.BF16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
	case gguf.F16:
		for i := range x {
			x[i] = npfloat.F16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
	case gguf.F32:
		for i := range x {
			x[i] = math.Float32frombits(uint32(src[4*i]) | uint32(src[4*i+1])<<8 | uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24)
		}
	}
}

// kquantOutType lists the K-quant output type names for messages.
func kquantOutTypes() string {
	var s []string
	for _, ft := range quantplan.FileTypes() {
		s = append(s, strings.ToLower(quantplan.Name(ft)))
	}
	return strings.Join(s, ", ")
}

// kquantSetup resolves a K-quant output type: it returns the file type
// (0 for other output types), sets *outType to bf16 (the plan's
// intermediate) and loads the importance matrix. The knobs need a K-quant
// output type.
func kquantSetup(outType *OutType, opts ExportOptions) (gguf.FileType, *Imatrix, error) {
	ft, ok := kquantFileType(*outType)
	if !ok {
		if !opts.Quant.isZero() {
			return 0, nil, fmt.Errorf("%w: --imatrix, --tensor-type, --output-tensor-type, --token-embedding-type, --leave-output-tensor and --pure need a K-quant output type (%s)", ErrExport, kquantOutTypes())
		}
		return 0, nil, nil
	}
	*outType = OutBF16
	if opts.Quant.Imatrix == "" {
		return ft, nil, nil
	}
	im, err := LoadImatrix(opts.Quant.Imatrix)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	return ft, im, nil
}

// outTypeName is the plan's outtype: the K-quant name, or the type.
func outTypeName(t OutType, kq gguf.FileType) string {
	if kq != 0 {
		return strings.ToLower(quantplan.Name(kq))
	}
	return string(t)
}
