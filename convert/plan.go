package convert

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
)

// Action is what a job does to its input tensors.
type Action uint8

const (
	// ActCopy writes the input bytes unchanged.
	ActCopy Action = iota
	// ActCast casts a float input to Job.DType.
	ActCast
	// ActQuantize casts the weight to Job.DType (if set and different) and
	// quantizes it: outputs weight, scales and (affine) biases.
	ActQuantize
	// ActDequantize casts float scales/biases to Job.DType (if set) and
	// dequantizes: one output, the float weight.
	ActDequantize
)

var actionNames = [...]string{ActCopy: "copy", ActCast: "cast", ActQuantize: "quantize", ActDequantize: "dequantize"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Job is one unit of planned work: read the inputs, transform, write the
// outputs. Jobs touch disjoint output ranges and can run in any order.
type Job struct {
	Module string // the module path, for messages
	Action Action
	// Inputs: one for copy, cast and quantize (the weight); weight, scales
	// and, for affine, biases for dequantize.
	Inputs []*Input
	// DType is the cast target: the output dtype of a cast, the dtype the
	// weight is cast to before quantizing, the dtype float scales/biases
	// are cast to before dequantizing. Invalid means no cast.
	DType mlx.DType
	// Quant holds the quantization parameters of quantize and dequantize
	// (Rounding is the backend's, set at execution).
	Quant mlx.QuantParams
	// Outputs index Plan.Tensors, in the order the action produces them
	// (weight, scales, biases for quantize).
	Outputs []int
	// Note says why a module is (not) quantized the way it is.
	Note string
}

// Tensor is one output tensor.
type Tensor struct {
	Name   string
	DType  mlx.DType
	Shape  []int
	Shard  int   // index into Plan.Shards
	Offset int64 // offset of the body in the shard's data section
	Job    int   // index into Plan.Jobs
}

// Size returns the body's byte size.
func (t *Tensor) Size() int64 { return numElements(t.Shape) * int64(t.DType.Size()) }

// Shard is one output safetensors file.
type Shard struct {
	Name     string
	Tensors  []int // indexes into Plan.Tensors, in data order
	DataSize int64
}

// Plan is a complete, I/O-free description of a conversion.
type Plan struct {
	ModelType string
	Arch      string    // the architecture entry ("generic" for the fallback)
	DType     mlx.DType // the cast dtype (Invalid: floats keep their dtype)
	// Quant is the global quantization of this run (nil without -q).
	Quant *mlx.QuantParams
	// Recipe is the mixed-precision recipe, "" for none.
	Recipe string
	// Dequantize is set for -d.
	Dequantize bool

	Tensors []Tensor // output tensors in module order
	Jobs    []Job
	Shards  []Shard

	// Config and Index are the bytes of config.json and
	// model.safetensors.index.json.
	Config []byte
	Index  []byte
	// Aux are the files copied verbatim from the input directory.
	Aux []string

	TotalSize       int64 // Σ bytes of the output tensors
	TotalParameters int64 // as mlx-lm counts it
}

// BitsPerWeight returns TotalSize·8 / TotalParameters, the number mlx-lm
// prints after quantizing.
func (p *Plan) BitsPerWeight() float64 {
	if p.TotalParameters == 0 {
		return 0
	}
	return float64(p.TotalSize) * 8 / float64(p.TotalParameters)
}

// DefaultMaxShardSize is mlx-lm's shard limit, 5 GiB.
const DefaultMaxShardSize int64 = 5 << 30

// MakePlan decides every output tensor of a conversion from the inventory
// and the options, reading nothing. It follows mlx_lm.convert's pipeline:
// the architecture's sanitize, pre-quantized layers, the dtype cast, then
// quantization (recipes, per-model overrides, then rules) or
// dequantization, and mlx-lm's sharding and config edits.
func MakePlan(inv *Inventory, opts Options) (*Plan, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	arch, err := lookupArch(inv.Config)
	if err != nil {
		return nil, err
	}
	pl := &planner{inv: inv, opts: opts, arch: arch, cfgObj: cloneValue(inv.Config).(*pyjson.Object)}
	return pl.run()
}

type planner struct {
	inv    *Inventory
	opts   Options
	arch   *model.Family
	cfgObj *pyjson.Object
	cfg    config
	spec   *modelSpec
	ts     *tensorSet
	plan   *Plan
	// loaded quantization (pre-quantized checkpoint): the config's
	// "quantization" object after the load-time import.
	loadQuant *pyjson.Object
	awqDType  mlx.DType
}

// modState is one module after matching the checkpoint against the spec.
type modState struct {
	spec   moduleSpec
	params map[string]*Input // float module: spec param name → input
	q      *mlx.QuantParams  // pre-quantized: its parameters
	qw     *Input            // pre-quantized weight, scales, biases, bias
	qs     *Input
	qb     *Input
	bias   *Input
}

func (pl *planner) run() (*Plan, error) {
	mods, err := pl.prepare()
	if err != nil {
		return nil, err
	}
	spec := pl.spec

	// Recipe checks come before the dtype and the -q/-d check, as in
	// mlx_lm.convert (and apply even without -q).
	var rec *recipe
	if pl.opts.QuantPredicate != "" {
		if rec, err = buildRecipe(pl.opts.QuantPredicate, pl.opts.QGroupSize, spec); err != nil {
			return nil, err
		}
	}
	pl.plan.DType = pl.castDType()

	if pl.opts.Quantize {
		if err := pl.planQuantized(mods, rec); err != nil {
			return nil, err
		}
	} else {
		for i := range mods {
			if err := pl.planModule(&mods[i], nil, ""); err != nil {
				return nil, err
			}
		}
		if pl.opts.Dequantize {
			pl.cfgObj.Delete("quantization")
			pl.cfgObj.Delete("quantization_config")
		}
	}
	if err := pl.shard(); err != nil {
		return nil, err
	}
	if err := pl.finishConfig(); err != nil {
		return nil, err
	}
	return pl.plan, nil
}

// prepare runs the stages every use of the checkpoint shares: the loader's
// config edits, the architecture's parameter tree and sanitize, the import
// of pre-quantized checkpoints, and the strict name/shape match.
func (pl *planner) prepare() ([]modState, error) {
	pl.cfg = newConfig(pl.cfgObj, "config.json")
	mt, _ := pl.cfg.Str("model_type")
	pl.plan = &Plan{ModelType: mt, Arch: pl.arch.Name, Recipe: string(pl.opts.QuantPredicate), Dequantize: pl.opts.Dequantize,
		Aux: slices.Clone(pl.inv.Aux)}
	pl.loadConfigEdits()

	pl.ts = newTensorSet(pl.inv.Tensors)
	spec, err := pl.arch.MLX.Build(pl.cfg, tensorView{pl.ts})
	if err != nil {
		return nil, err
	}
	pl.spec = spec
	if err := pl.arch.MLX.SanitizeTensors(spec, pl.cfg, tensorView{pl.ts}); err != nil {
		return nil, err
	}
	if err := pl.importQuantization(); err != nil {
		return nil, err
	}
	return pl.match()
}

// loadConfigEdits applies what mlx-lm's loader changes in the config:
// eos_token_id from generation_config.json, a quantization_config hoisted
// from text_config, hf_quant_config.json.
func (pl *planner) loadConfigEdits() {
	if gc, ok := pl.inv.GenerationConfig.(*pyjson.Object); ok {
		if eos, ok := gc.Get("eos_token_id"); ok && truthy(eos) {
			pl.cfgObj.Set("eos_token_id", cloneValue(eos))
		}
	}
	if _, ok := pl.cfgObj.Get("quantization_config"); !ok {
		if tc := pl.cfg.Object("text_config"); tc != nil {
			if qc, ok := tc.Get("quantization_config"); ok {
				pl.cfgObj.Set("quantization_config", cloneValue(qc))
			}
		}
	}
	if _, ok := pl.cfgObj.Get("quantization_config"); !ok && pl.inv.HFQuantConfig != nil {
		pl.cfgObj.Set("quantization_config", cloneValue(pl.inv.HFQuantConfig))
	}
}

// importQuantization handles a checkpoint that is already quantized: an
// MLX "quantization" entry, or a quantization_config whose method mlx-lm
// loads (AWQ/GPTQ are repacked here).
func (pl *planner) importQuantization() error {
	if q := pl.cfg.Object("quantization"); q != nil {
		pl.loadQuant = q
		return nil
	}
	qc := pl.cfg.Object("quantization_config")
	if qc == nil {
		if v, ok := pl.cfg.Value("quantization"); ok {
			return fmt.Errorf("%w: config.json \"quantization\" is %s, want an object", ErrConfig, describe(v))
		}
		return nil
	}
	q, err := pl.mlxQuantization(newConfig(qc, "config.json quantization_config"))
	if err != nil || q == nil {
		return err
	}
	pl.cfgObj.Set("quantization", q)
	pl.cfgObj.Set("quantization_config", q)
	pl.loadQuant = q
	return nil
}

// mlxQuantization returns the MLX "quantization" entry a
// quantization_config stands for; nil leaves the config as is (mlx-lm
// keeps e.g. an fp8 quantization_config).
func (pl *planner) mlxQuantization(qcc model.Config) (*pyjson.Object, error) {
	switch method, _ := qcc.Str("quant_method"); method {
	case "bitnet":
		return nil, fmt.Errorf("%w: bitnet checkpoints (quant_method \"bitnet\") are not supported", ErrUnsupported)
	case "mxfp4":
		return mlxQuantEntry(32, 4, "mxfp4"), nil
	case "mxfp8":
		return mlxQuantEntry(32, 8, "mxfp8"), nil
	case "fp8":
		return fp8Quantization(qcc), nil
	case "compressed-tensors":
		return compressedTensorsQuantization(qcc)
	case "modelopt":
		return modeloptQuantization(qcc)
	case "awq", "gptq":
		return pl.awqQuantization(qcc)
	}
	return nil, nil
}

// mlxQuantEntry is an MLX "quantization" object; mode "" is affine.
func mlxQuantEntry(group, bits int, mode string) *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("group_size", pyjson.Int(int64(group)))
	o.Set("bits", pyjson.Int(int64(bits)))
	if mode != "" {
		o.Set("mode", mode)
	}
	return o
}

// fp8Quantization maps fp8 with ue8m0 scales over 32x32 blocks to mxfp8;
// other fp8 checkpoints are left as is (nil).
func fp8Quantization(qcc model.Config) *pyjson.Object {
	fmtName, _ := qcc.Str("scale_fmt")
	bs, _ := qcc.IntList("weight_block_size")
	if fmtName == "ue8m0" && slices.Equal(bs, []int{32, 32}) {
		return mlxQuantEntry(32, 8, "mxfp8")
	}
	return nil
}

// compressedTensorsFormats are the compressed-tensors formats mlx-lm
// loads, as MLX quantization entries (group size, bits, mode).
var compressedTensorsFormats = map[string]struct {
	group, bits int
	mode        string
}{
	"nvfp4-pack-quantized": {16, 4, "nvfp4"},
	"mxfp4-pack-quantized": {32, 4, "mxfp4"},
	"pack-quantized":       {32, 4, "affine"},
}

func compressedTensorsQuantization(qcc model.Config) (*pyjson.Object, error) {
	f, _ := qcc.Str("format")
	e, ok := compressedTensorsFormats[f]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported compressed-tensors format %q; dequantize to bf16 before converting", ErrUnsupported, f)
	}
	return mlxQuantEntry(e.group, e.bits, e.mode), nil
}

// modeloptQuantization accepts NVFP4 only.
func modeloptQuantization(qcc model.Config) (*pyjson.Object, error) {
	settings := qcc
	if s := qcc.Object("quantization"); s != nil {
		settings = newConfig(s, "quantization_config.quantization")
	}
	if algo, _ := settings.Str("quant_algo"); algo != "NVFP4" {
		return nil, fmt.Errorf("%w: unsupported modelopt quant_algo %q", ErrUnsupported, algo)
	}
	g, err := settings.IntOr("group_size", 16)
	if err != nil {
		return nil, err
	}
	return mlxQuantEntry(g, 4, "nvfp4"), nil
}

// awqQuantization checks an AutoAWQ/GPTQ config (4 bits, a positive group
// size) and repacks the tensors (importAWQ) into affine 4-bit.
func (pl *planner) awqQuantization(qcc model.Config) (*pyjson.Object, error) {
	bits, err := qcc.IntOr("bits", 4)
	if err != nil {
		return nil, err
	}
	if bits != 4 {
		return nil, fmt.Errorf("%w: only bits=4 is supported for AutoAWQ/GPTQ models (got %d)", ErrUnsupported, bits)
	}
	group, err := qcc.IntOr("group_size", 128)
	if err != nil {
		return nil, err
	}
	if group <= 0 {
		return nil, fmt.Errorf("%w: AWQ/GPTQ group_size %d", ErrConfig, group)
	}
	if err := pl.importAWQ(); err != nil {
		return nil, err
	}
	return mlxQuantEntry(group, 4, ""), nil
}

// importAWQ rewrites AutoAWQ/GPTQ tensors (X.qweight, X.qzeros, X.scales)
// into MLX affine 4-bit X.weight/X.scales/X.biases, and casts every other
// float tensor to the scales' dtype, as mlx-lm's _transform_awq_weights.
func (pl *planner) importAWQ() error {
	ts := pl.ts
	out := &tensorSet{m: map[string]*Input{}}
	var modelDType mlx.DType
	for _, n := range ts.names() {
		in, _ := ts.get(n)
		switch {
		case strings.HasSuffix(n, ".g_idx"):
			return fmt.Errorf("%w: found %q in weights: models with non-contiguous group indices (g_idx) are not supported", ErrUnsupported, n)
		case strings.HasSuffix(n, ".qweight"):
			dt, err := repackAWQ(ts, out, n, in)
			if err != nil {
				return err
			}
			modelDType = dt
		case strings.HasSuffix(n, ".qzeros") || strings.HasSuffix(n, ".scales"):
			// read with their qweight
		default:
			out.set(n, in)
		}
	}
	if modelDType == mlx.Invalid {
		return fmt.Errorf("%w: AWQ/GPTQ checkpoint without any qweight tensor", ErrWeights)
	}
	for _, n := range out.order {
		in := out.m[n]
		if in.DType.IsFloat() && in.DType != modelDType {
			cp := *in
			cp.DType = modelDType
			out.m[n] = &cp
		}
	}
	pl.ts = out
	pl.awqDType = modelDType
	return nil
}

// repackAWQ sets in out the MLX weight, scales and biases of the AWQ
// module whose qweight n (tensor in) is, and returns the scales' dtype.
func repackAWQ(ts, out *tensorSet, n string, in *Input) (mlx.DType, error) {
	prefix := strings.TrimSuffix(n, ".qweight")
	scales, ok := ts.get(prefix + ".scales")
	if !ok {
		return mlx.Invalid, fmt.Errorf("%w: %q has no %s.scales", ErrWeights, n, prefix)
	}
	if len(in.Shape) != 2 || !isInt32(in.DType) {
		return mlx.Invalid, fmt.Errorf("%w: tensor %q: AWQ qweight must be a 2-D int32, got %s%v", ErrWeights, n, in.DType, in.Shape)
	}
	inF, packedOut := in.Shape[0], in.Shape[1]
	outF := packedOut * 8
	if inF%8 != 0 {
		return mlx.Invalid, fmt.Errorf("%w: tensor %q: in_features %d is not a multiple of 8", ErrWeights, n, inF)
	}
	if len(scales.Shape) != 2 || scales.Shape[1] != outF || !scales.DType.IsFloat() {
		return mlx.Invalid, fmt.Errorf("%w: tensor %q: AWQ scales %s%v do not match qweight %v", ErrWeights, prefix+".scales", scales.DType, scales.Shape, in.Shape)
	}
	groups := scales.Shape[0]
	out.set(prefix+".weight", &Input{DType: mlx.U32, Shape: []int{outF, inF / 8}, Op: OpAWQWeight, Sources: slices.Clone(in.Sources)})
	out.set(prefix+".scales", &Input{DType: scales.DType, Shape: []int{outF, groups}, Op: OpAWQScales, Sources: slices.Clone(scales.Sources)})
	srcs := slices.Clone(scales.Sources)
	if z, ok := ts.get(prefix + ".qzeros"); ok {
		if len(z.Shape) != 2 || z.Shape[0] != groups || z.Shape[1]*8 != outF || !isInt32(z.DType) {
			return mlx.Invalid, fmt.Errorf("%w: tensor %q: AWQ qzeros %s%v do not match scales %v", ErrWeights, prefix+".qzeros", z.DType, z.Shape, scales.Shape)
		}
		srcs = append(srcs, z.Sources...)
	}
	out.set(prefix+".biases", &Input{DType: scales.DType, Shape: []int{outF, groups}, Op: OpAWQBiases, Sources: srcs})
	return scales.DType, nil
}

// isInt32 reports whether dt is a 32-bit integer type (AWQ packs into
// int32, some exporters write uint32).
func isInt32(dt mlx.DType) bool { return dt == mlx.I32 || dt == mlx.U32 }

func (pl *planner) where(in *Input) string {
	if len(in.Sources) == 0 || pl.inv == nil || in.Sources[0].File >= len(pl.inv.Files) {
		return ""
	}
	return " (" + pl.inv.Files[in.Sources[0].File] + ")"
}

// inferQuant recovers a pre-quantized module's parameters from shapes and
// the scales dtype (mlx-lm's infer_quant_config).
func inferQuant(path string, inDims int, w, s *Input) (mlx.QuantParams, error) {
	if len(s.Shape) == 0 || s.Shape[len(s.Shape)-1] == 0 || len(w.Shape) == 0 || inDims == 0 {
		return mlx.QuantParams{}, fmt.Errorf("%w: module %q: cannot infer its quantization from weight %v and scales %v", ErrWeights, path, w.Shape, s.Shape)
	}
	group := inDims / s.Shape[len(s.Shape)-1]
	bits := w.Shape[len(w.Shape)-1] * 32 / inDims
	if s.DType != mlx.U8 {
		return mlx.QuantParams{Mode: mlx.Affine, Bits: bits, GroupSize: group}, nil
	}
	switch {
	case bits == 4 && group == 16:
		return mlx.QuantParams{Mode: mlx.NVFP4, Bits: 4, GroupSize: 16}, nil
	case bits == 4 && group == 32:
		return mlx.QuantParams{Mode: mlx.MXFP4, Bits: 4, GroupSize: 32}, nil
	case bits == 8 && group == 32:
		return mlx.QuantParams{Mode: mlx.MXFP8, Bits: 8, GroupSize: 32}, nil
	}
	return mlx.QuantParams{}, fmt.Errorf("%w: cannot infer the quantization mode of %q: %d bits with group size %d", ErrWeights, path, bits, group)
}

// quantShapes returns the packed weight and the scales shapes of a float
// weight shape quantized with p.
func quantShapes(path string, wshape []int, p mlx.QuantParams) (packed, scales []int, err error) {
	if len(wshape) == 0 {
		return nil, nil, fmt.Errorf("%w: module %q: scalar weight cannot be quantized", ErrWeights, path)
	}
	in := wshape[len(wshape)-1]
	if p.GroupSize <= 0 || p.Bits <= 0 || in%p.GroupSize != 0 || (in*p.Bits)%32 != 0 {
		return nil, nil, fmt.Errorf("%w: module %q: last dimension %d does not fit %d-bit groups of %d", ErrWeights, path, in, p.Bits, p.GroupSize)
	}
	lead := wshape[:len(wshape)-1]
	packed = append(slices.Clone(lead), in*p.Bits/32)
	scales = append(slices.Clone(lead), in/p.GroupSize)
	return packed, scales, nil
}

// match pairs every spec parameter with a sanitized checkpoint tensor,
// exactly as MLX's load_weights(strict=True) would (names and shapes), and
// recognises pre-quantized modules.
func (pl *planner) match() ([]modState, error) {
	mt := &matcher{pl: pl}
	var topBits int
	if pl.loadQuant != nil {
		topBits, _ = newConfig(pl.loadQuant, "config.json quantization").IntOr("bits", 4)
	}
	mods := make([]modState, 0, len(pl.spec.Modules))
	for _, m := range pl.spec.Modules {
		st := modState{spec: m}
		qp, skip, err := mt.moduleQuant(m, topBits)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		if qp != nil {
			if err := mt.takeQuantized(&st, qp); err != nil {
				return nil, err
			}
		} else {
			mt.takeFloat(&st)
		}
		mods = append(mods, st)
	}
	if err := mt.err(); err != nil {
		return nil, err
	}
	return mods, nil
}

// matcher takes checkpoint tensors off pl.ts for match, collecting the
// missing ones and the shape mismatches.
type matcher struct {
	pl        *planner
	missing   []string
	shapeErrs []string
}

// take pops tensor name, checking its shape unless shape is nil; nil when
// it is missing.
func (mt *matcher) take(name string, shape []int) *Input {
	in, ok := mt.pl.ts.pop(name)
	if !ok {
		mt.missing = append(mt.missing, name)
		return nil
	}
	if shape != nil && !slices.Equal(in.Shape, shape) {
		mt.shapeErrs = append(mt.shapeErrs, fmt.Sprintf("tensor %q%s has shape %v, the model expects %v", name, mt.pl.where(in), in.Shape, shape))
	}
	return in
}

// err reports the tensors left over, those missing and the shape
// mismatches, in one error.
func (mt *matcher) err() error {
	var msgs []string
	if n := mt.pl.ts.len(); n > 0 {
		msgs = append(msgs, fmt.Sprintf("%d parameters not in the %s model: %s", n, mt.pl.arch.Name, listNames(mt.pl.ts.names())))
	}
	if len(mt.missing) > 0 {
		msgs = append(msgs, fmt.Sprintf("missing %d parameters: %s", len(mt.missing), listNames(mt.missing)))
	}
	msgs = append(msgs, mt.shapeErrs...)
	if len(msgs) > 0 {
		return fmt.Errorf("%w: %s", ErrWeights, strings.Join(msgs, "; "))
	}
	return nil
}

// moduleQuant returns the parameters module m is stored quantized with
// (nil: float), from its config.json "quantization" entry or, without
// one, inferred from a stored scales tensor. skip reports a quantized
// module without a weight (recorded as missing).
func (mt *matcher) moduleQuant(m moduleSpec, topBits int) (qp *mlx.QuantParams, skip bool, err error) {
	pl := mt.pl
	if pl.loadQuant == nil {
		return nil, false, nil
	}
	// mlx-lm's class_predicate: a module named in "quantization" takes
	// that entry (an object: its parameters; true: the top-level ones;
	// false or null: not quantized), and load_weights then refuses a
	// checkpoint that stores it otherwise.
	if entry, named := pl.loadQuant.Get(m.Path); named {
		qp, err := pl.namedQuant(m, entry)
		return qp, false, err
	}
	if !m.Kind.Quantizable() || !pl.ts.has(m.Path+".scales") {
		return nil, false, nil
	}
	w, okw := pl.ts.get(m.Path + ".weight")
	s, _ := pl.ts.get(m.Path + ".scales")
	if !okw {
		mt.missing = append(mt.missing, m.Path+".weight")
		return nil, true, nil
	}
	ws, _ := m.Param("weight")
	inDims := 0
	if len(ws.Shape) > 0 {
		inDims = ws.Shape[len(ws.Shape)-1]
	}
	if pl.spec.Generic && topBits > 0 {
		inDims = inDims * 32 / topBits // generic specs hold the packed shape
	}
	p, err := inferQuant(m.Path, inDims, w, s)
	if err != nil {
		return nil, false, err
	}
	return &p, false, nil
}

// namedQuant reads module m's config.json "quantization" entry and checks
// that the checkpoint stores m that way.
func (pl *planner) namedQuant(m moduleSpec, entry pyjson.Value) (*mlx.QuantParams, error) {
	field := fmt.Sprintf("config.json: \"quantization\".%q", m.Path)
	qp, err := pl.entryQuant(m.Path, field, entry)
	if err != nil {
		return nil, err
	}
	if qp == nil && pl.ts.has(m.Path+".scales") {
		what := "null"
		if entry != nil {
			what = "false"
		}
		return nil, fmt.Errorf("%w: %s is %s (not quantized), but the checkpoint stores %s packed (%s.scales); mlx-lm refuses it", ErrConfig, field, what, m.Path, m.Path)
	}
	if qp != nil {
		if err := pl.checkQuantEntry(m, field, *qp); err != nil {
			return nil, err
		}
	}
	return qp, nil
}

// entryQuant returns the parameters of a "quantization" entry: an object
// holds them, true means the top-level ones, false or null none.
func (pl *planner) entryQuant(path, field string, entry pyjson.Value) (*mlx.QuantParams, error) {
	var p mlx.QuantParams
	var err error
	switch e := entry.(type) {
	case *pyjson.Object:
		p, err = paramsFromEntry(e, "config.json quantization."+path)
	case bool:
		if !e {
			return nil, nil
		}
		p, err = paramsFromEntry(pl.loadQuant, "config.json quantization")
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: %s is %s, want an object or a bool", ErrConfig, field, describe(entry))
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// takeQuantized takes the packed weight, scales, biases and bias of a
// module stored quantized with qp, and checks their dtypes.
func (mt *matcher) takeQuantized(st *modState, qp *mlx.QuantParams) error {
	pl, m := mt.pl, st.spec
	if err := qp.Validate(); err != nil {
		return fmt.Errorf("module %q: %w", m.Path, err)
	}
	if !m.Kind.Quantizable() {
		return fmt.Errorf("%w: module %q is quantized in the checkpoint but is not a Linear/Embedding layer", ErrWeights, m.Path)
	}
	ws, _ := m.Param("weight")
	fshape := slices.Clone(ws.Shape)
	if pl.spec.Generic && len(fshape) > 0 {
		fshape[len(fshape)-1] = fshape[len(fshape)-1] * 32 / qp.Bits
	}
	packed, sshape, err := quantShapes(m.Path, fshape, *qp)
	if err != nil {
		return err
	}
	st.q = qp
	st.spec.Params = floatParams(m.Params, fshape)
	st.qw = mt.take(m.Path+".weight", packed)
	st.qs = mt.take(m.Path+".scales", sshape)
	if qp.Mode.HasBias() {
		st.qb = mt.take(m.Path+".biases", sshape)
	}
	if bs, ok := m.Param("bias"); ok {
		st.bias = mt.take(m.Path+".bias", bs.Shape)
	}
	if err := pl.checkQuantDTypes(st); err != nil {
		return err
	}
	if pl.ts.has(m.Path + ".global_scale") {
		return fmt.Errorf("%w: module %q has an nvfp4 global_scale, which is not supported", ErrUnsupported, m.Path)
	}
	return nil
}

// floatParams is a quantized module's parameters as the float model has
// them: the weight at its float shape, without scales and biases (generic
// specs list the packed parameters).
func floatParams(params []paramSpec, fshape []int) []paramSpec {
	var out []paramSpec
	for _, p := range params {
		switch p.Name {
		case "weight":
			out = append(out, paramSpec{Name: "weight", Shape: fshape})
		case "scales", "biases":
		default:
			out = append(out, p)
		}
	}
	return out
}

// checkQuantDTypes checks a quantized module's stored dtypes: a uint32
// weight, uint8 scales for the fp modes and float scales for affine.
func (pl *planner) checkQuantDTypes(st *modState) error {
	path, mode := st.spec.Path, st.q.Mode
	if st.qw != nil && st.qw.DType != mlx.U32 {
		return fmt.Errorf("%w: tensor %q%s is %s, a quantized weight must be uint32", ErrWeights, path+".weight", pl.where(st.qw), st.qw.DType)
	}
	if st.qs == nil {
		return nil
	}
	if mode != mlx.Affine && st.qs.DType != mlx.U8 {
		return fmt.Errorf("%w: tensor %q%s is %s, %s scales must be uint8", ErrWeights, path+".scales", pl.where(st.qs), st.qs.DType, mode)
	}
	if mode == mlx.Affine && !st.qs.DType.IsFloat() {
		return fmt.Errorf("%w: tensor %q%s is %s, affine scales must be float", ErrWeights, path+".scales", pl.where(st.qs), st.qs.DType)
	}
	return nil
}

// takeFloat takes every parameter of a float module (any shape for a
// generic spec).
func (mt *matcher) takeFloat(st *modState) {
	st.params = map[string]*Input{}
	for _, p := range st.spec.Params {
		shape := p.Shape
		if mt.pl.spec.Generic {
			shape = nil
		}
		if in := mt.take(joinName(st.spec.Path, p.Name), shape); in != nil {
			st.params[p.Name] = in
		}
	}
}

// checkQuantEntry fails when the checkpoint does not store module m the
// way its config.json "quantization" entry (field) says: unquantized, or
// packed with other parameters (mlx-lm's load_weights refuses both, as a
// missing parameter or a shape mismatch).
func (pl *planner) checkQuantEntry(m moduleSpec, field string, qp mlx.QuantParams) error {
	says := fmt.Sprintf("says %d-bit %s with group size %d", qp.Bits, qp.Mode, qp.GroupSize)
	w, okw := pl.ts.get(m.Path + ".weight")
	s, oks := pl.ts.get(m.Path + ".scales")
	if !oks {
		return fmt.Errorf("%w: %s %s, but the checkpoint stores %s unquantized (no %s.scales); mlx-lm refuses it", ErrConfig, field, says, m.Path, m.Path)
	}
	if !okw || pl.spec.Generic || !m.Kind.Quantizable() {
		return nil // reported by match
	}
	ws, _ := m.Param("weight")
	packed, sshape, err := quantShapes(m.Path, ws.Shape, qp)
	if err != nil || (slices.Equal(w.Shape, packed) && slices.Equal(s.Shape, sshape)) {
		return nil // an impossible entry is reported by match
	}
	stored := fmt.Sprintf("%s.weight %v and %s.scales %v%s", m.Path, w.Shape, m.Path, s.Shape, pl.where(w))
	if len(ws.Shape) > 0 {
		if p, err := inferQuant(m.Path, ws.Shape[len(ws.Shape)-1], w, s); err == nil {
			stored = fmt.Sprintf("%d-bit %s with group size %d (%s)", p.Bits, p.Mode, p.GroupSize, stored)
		}
	}
	return fmt.Errorf("%w: %s %s, but the checkpoint stores %s packed as %s; mlx-lm refuses it", ErrConfig, field, says, m.Path, stored)
}

func listNames(names []string) string {
	const max = 10
	quoted := make([]string, 0, min(len(names), max))
	for _, n := range names[:min(len(names), max)] {
		quoted = append(quoted, strconv.Quote(n)) // names come from the file
	}
	if len(names) <= max {
		return strings.Join(quoted, ", ")
	}
	return strings.Join(quoted, ", ") + fmt.Sprintf(", ... (%d more)", len(names)-max)
}

// castDType returns the dtype floats are cast to: --dtype, else
// config torch_dtype, else text_config.dtype, if one of float16,
// bfloat16, float32; otherwise Invalid (no cast).
func (pl *planner) castDType() mlx.DType {
	name := pl.opts.dtypeName()
	if name == "" {
		if v, ok := pl.cfgObj.Get("torch_dtype"); ok && v != nil {
			name, _ = v.(string)
		} else if tc := pl.cfg.Object("text_config"); tc != nil {
			if v, ok := tc.Get("dtype"); ok {
				name, _ = v.(string)
			}
		}
	}
	switch name {
	case "float16", "bfloat16", "float32":
		d, _ := mlx.ParseDType(name)
		return d
	}
	return mlx.Invalid
}

// castFor returns the dtype a tensor is stored in given the cast dtype.
func castFor(dt, to mlx.DType) mlx.DType {
	if to != mlx.Invalid && dt.IsFloat() {
		return to
	}
	return dt
}

// addTensor appends an output tensor and returns its index.
func (pl *planner) addTensor(name string, dt mlx.DType, shape []int) int {
	pl.plan.Tensors = append(pl.plan.Tensors, Tensor{Name: name, DType: dt, Shape: slices.Clone(shape), Job: len(pl.plan.Jobs)})
	return len(pl.plan.Tensors) - 1
}

// addPassthrough plans a copy or a cast of one input to dtype to (Invalid:
// keep).
func (pl *planner) addPassthrough(module, name string, in *Input, to mlx.DType, note string) {
	out := castFor(in.DType, to)
	j := Job{Module: module, Action: ActCopy, Inputs: []*Input{in}, Note: note}
	if out != in.DType {
		j.Action, j.DType = ActCast, out
	}
	j.Outputs = []int{pl.addTensor(name, out, in.Shape)}
	pl.plan.Jobs = append(pl.plan.Jobs, j)
}

// planModule plans one module: pre-quantized (kept or dequantized) or
// float (quantized with q, or cast). floatDType overrides the global cast
// dtype for a float module (a dtype rule).
func (pl *planner) planModule(st *modState, q *mlx.QuantParams, note string, floatDType ...mlx.DType) error {
	cast := pl.plan.DType
	if len(floatDType) > 0 && floatDType[0] != mlx.Invalid {
		cast = floatDType[0]
	}
	// get_total_parameters counts a quantized weight at its float size and
	// skips scales/biases, so the count is the float model's.
	for _, p := range st.spec.Params {
		pl.plan.TotalParameters += numElements(p.Shape)
	}
	if st.q != nil {
		pl.planPrequantized(st, cast, note)
		return nil
	}
	path := st.spec.Path
	for _, p := range st.spec.Params {
		in := st.params[p.Name]
		name := joinName(path, p.Name)
		if p.Name == "weight" && q != nil {
			if err := pl.planQuantize(path, name, in, *q, note); err != nil {
				return err
			}
			continue
		}
		pl.addPassthrough(path, name, in, cast, note)
	}
	return nil
}

// planPrequantized plans a pre-quantized module: dequantized (--dequantize)
// or kept packed, its scales, biases and bias cast to cast.
func (pl *planner) planPrequantized(st *modState, cast mlx.DType, note string) {
	path := st.spec.Path
	if pl.opts.Dequantize {
		pl.planDequantize(st, cast, note)
	} else {
		pl.addPassthrough(path, joinName(path, "weight"), st.qw, mlx.Invalid, note)
		pl.addPassthrough(path, joinName(path, "scales"), st.qs, cast, note)
		if st.qb != nil {
			pl.addPassthrough(path, joinName(path, "biases"), st.qb, cast, note)
		}
	}
	if st.bias != nil {
		pl.addPassthrough(path, joinName(path, "bias"), st.bias, cast, note)
	}
}

// planDequantize plans a job dequantizing a pre-quantized weight: to the
// (cast) scales dtype for affine, to bf16 for the fp modes.
func (pl *planner) planDequantize(st *modState, cast mlx.DType, note string) {
	path := st.spec.Path
	inputs := []*Input{st.qw, st.qs}
	if st.qb != nil {
		inputs = append(inputs, st.qb)
	}
	out := mlx.BF16 // mx.dequantize's default for the fp modes
	j := Job{Module: path, Action: ActDequantize, Inputs: inputs, Quant: *st.q, Note: note}
	if st.q.Mode == mlx.Affine {
		out = castFor(st.qs.DType, cast)
		if out != st.qs.DType {
			j.DType = out
		}
	}
	ws, _ := st.spec.Param("weight")
	j.Outputs = []int{pl.addTensor(joinName(path, "weight"), out, ws.Shape)}
	pl.plan.Jobs = append(pl.plan.Jobs, j)
}

// planQuantize plans a job quantizing the float weight in (tensor name)
// with q, cast first to the run's dtype.
func (pl *planner) planQuantize(path, name string, in *Input, q mlx.QuantParams, note string) error {
	if !in.DType.IsFloat() {
		return fmt.Errorf("%w: tensor %q%s is %s and cannot be quantized", ErrWeights, name, pl.where(in), in.DType)
	}
	wdt := castFor(in.DType, pl.plan.DType)
	packed, sshape, err := quantShapes(path, in.Shape, q)
	if err != nil {
		return err
	}
	j := Job{Module: path, Action: ActQuantize, Inputs: []*Input{in}, Quant: q, Note: note}
	if wdt != in.DType {
		j.DType = wdt
	}
	sdt := q.Mode.ScaleDType(wdt)
	j.Outputs = []int{pl.addTensor(name, mlx.U32, packed), pl.addTensor(joinName(path, "scales"), sdt, sshape)}
	if q.Mode.HasBias() {
		j.Outputs = append(j.Outputs, pl.addTensor(joinName(path, "biases"), sdt, sshape))
	}
	pl.plan.Jobs = append(pl.plan.Jobs, j)
	return nil
}

// planQuantized plans a -q run: for every float module, mlx-lm's
// quantize_model decision (divisibility by the global group size, recipe
// or the model's predicate), overridden by the first matching rule.
func (pl *planner) planQuantized(mods []modState, rec *recipe) error {
	global, err := pl.globalQuant()
	if err != nil {
		return err
	}
	pl.plan.Quant = &global
	qr := &quantRun{global: global, rec: rec, pred: pl.arch.MLX.Pred}
	if existing := pl.cfg.Object("quantization"); existing != nil {
		qr.qobj, qr.fineGrained = existing, true
	} else {
		qr.qobj = quantEntry(global)
	}
	for i := range mods {
		st := &mods[i]
		d, err := pl.quantDecision(qr, st)
		if err != nil {
			return err
		}
		if err := pl.planModule(st, d.q, d.note, d.dtype); err != nil {
			return err
		}
	}
	pl.cfgObj.Set("quantization", qr.qobj)
	pl.cfgObj.Set("quantization_config", qr.qobj)
	return nil
}

// globalQuant is the run's -q parameters, the mode's defaults filling in
// bits and group size.
func (pl *planner) globalQuant() (mlx.QuantParams, error) {
	mode, _ := mlx.ParseQuantMode(pl.opts.qMode())
	global := mlx.QuantParams{Mode: mode, Bits: pl.opts.QBits, GroupSize: pl.opts.QGroupSize}
	if global.Bits == 0 {
		global.Bits = mode.DefaultBits()
	}
	if global.GroupSize == 0 {
		global.GroupSize = mode.DefaultGroupSize()
	}
	if err := global.Validate(); err != nil {
		return global, fmt.Errorf("%w: %v", ErrOptions, err)
	}
	return global, nil
}

// quantRun is the state of a -q run: the global parameters, the recipe or
// model predicate, and the "quantization" object being written
// (fineGrained: it lists every quantized module).
type quantRun struct {
	global      mlx.QuantParams
	rec         *recipe
	pred        model.QuantPred
	qobj        *pyjson.Object
	fineGrained bool
}

// quantDecision is how one module is planned: quantized with q (nil: not
// quantized), cast to dtype (Invalid: the run's), with a note.
type quantDecision struct {
	q     *mlx.QuantParams
	note  string
	dtype mlx.DType
}

// quantDecision decides a module: pre-quantized modules are kept, a
// matching rule wins, else mlx-lm's quantize_model decision.
func (pl *planner) quantDecision(qr *quantRun, st *modState) (quantDecision, error) {
	if st.q != nil {
		return quantDecision{note: "already quantized"}, nil
	}
	w := st.params["weight"]
	quantizable := st.spec.Kind.Quantizable() && w != nil && len(w.Shape) > 0
	lastDim := 0
	if quantizable {
		lastDim = w.Shape[len(w.Shape)-1]
	}
	if rule := pl.matchRule(st.spec.Path); rule != nil {
		return qr.ruleDecision(rule, st.spec.Path, quantizable, lastDim)
	}
	if !quantizable {
		return quantDecision{}, nil
	}
	if lastDim%qr.global.GroupSize != 0 {
		return quantDecision{note: fmt.Sprintf("last dimension %d is not a multiple of %d", lastDim, qr.global.GroupSize)}, nil
	}
	return qr.defaultDecision(st.spec.Path)
}

// ruleDecision applies a matching --rule: a dtype, a skip, or bits (and
// mode and group) over the global parameters.
func (qr *quantRun) ruleDecision(rule *Rule, path string, quantizable bool, lastDim int) (quantDecision, error) {
	switch {
	case rule.DType != mlx.Invalid:
		return quantDecision{note: "rule " + rule.Text, dtype: rule.DType}, nil
	case rule.Skip || !quantizable:
		return quantDecision{note: ruleNote(rule, quantizable)}, nil
	}
	p := qr.global
	p.Bits = rule.Bits
	if rule.Mode != "" {
		p.Mode, _ = mlx.ParseQuantMode(rule.Mode) // the syntax gives a group with a mode
	}
	if rule.Group != 0 {
		p.GroupSize = rule.Group
	}
	if err := p.Validate(); err != nil {
		return quantDecision{}, fmt.Errorf("%w: rule %q on %q: %w", ErrOptions, rule.Text, path, err)
	}
	if lastDim%p.GroupSize != 0 {
		return quantDecision{note: fmt.Sprintf("rule %s: last dimension %d is not a multiple of %d", rule.Text, lastDim, p.GroupSize)}, nil
	}
	if qr.fineGrained || qr.rec != nil || p != qr.global {
		qr.qobj.Set(path, quantEntry(p))
	}
	return quantDecision{q: &p, note: "rule " + rule.Text}, nil
}

// defaultDecision quantizes with the recipe's or the model predicate's
// entry for path, else with the global parameters.
func (qr *quantRun) defaultDecision(path string) (quantDecision, error) {
	p, note := qr.global, ""
	var entry *pyjson.Object
	switch {
	case qr.rec != nil:
		entry = qr.rec.entry(path)
		note = "recipe " + qr.rec.name
	case qr.pred != nil:
		entry = qr.pred(path)
		if entry != nil {
			note = "model override"
		}
	}
	if entry == nil {
		if qr.fineGrained {
			qr.qobj.Set(path, quantEntry(qr.global))
		}
		return quantDecision{q: &p, note: note}, nil
	}
	p, err := paramsFromEntry(entry, "quantization."+path)
	if err != nil {
		return quantDecision{}, err
	}
	if err := p.Validate(); err != nil {
		return quantDecision{}, fmt.Errorf("module %q: %w", path, err)
	}
	qr.qobj.Set(path, entry)
	return quantDecision{q: &p, note: note}, nil
}

func ruleNote(r *Rule, quantizable bool) string {
	if !quantizable && !r.Skip {
		return "rule " + r.Text + " (not quantizable)"
	}
	return "rule " + r.Text
}

func (pl *planner) matchRule(path string) *Rule {
	for i := range pl.opts.Rules {
		if pl.opts.Rules[i].Pattern.MatchString(path) {
			return &pl.opts.Rules[i]
		}
	}
	return nil
}

// shard assigns tensors to shards greedily in module order (mlx-lm's
// make_shards) and lays out each shard's data section in that order.
func (pl *planner) shard() error {
	limit := pl.opts.MaxShardSize
	if limit <= 0 {
		limit = DefaultMaxShardSize
	}
	p := pl.plan
	var cur int64
	for i := range p.Tensors {
		t := &p.Tensors[i]
		sz := t.Size()
		if len(p.Shards) == 0 || (cur+sz > limit && len(p.Shards[len(p.Shards)-1].Tensors) > 0) {
			p.Shards = append(p.Shards, Shard{})
			cur = 0
		}
		s := &p.Shards[len(p.Shards)-1]
		t.Shard = len(p.Shards) - 1
		t.Offset = s.DataSize
		s.Tensors = append(s.Tensors, i)
		s.DataSize += sz
		cur += sz
		if p.TotalSize > math.MaxInt64-sz {
			return fmt.Errorf("%w: output size overflows", ErrWeights)
		}
		p.TotalSize += sz
	}
	n := len(p.Shards)
	for i := range p.Shards {
		if n == 1 {
			p.Shards[i].Name = "model.safetensors"
		} else {
			p.Shards[i].Name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
		}
	}
	return nil
}
