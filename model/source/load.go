package source

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
)

// The MLX parameter tree and config accessor are the model package's.
type (
	moduleSpec = model.Module
	paramSpec  = model.Param
)

var (
	newConfig  = model.NewConfig
	describe   = model.Describe
	cloneValue = model.CloneValue
	truthy     = model.Truthy
	joinName   = model.JoinName
)

// Param is one float parameter of a module.
type Param struct {
	Name  string // "weight", "bias"
	Input *Input
}

// Module is one leaf module of a checkpoint after the family's sanitize,
// matched against the parameter tree mlx-lm builds.
type Module struct {
	Path string
	Kind model.Kind
	// Spec is the module of the parameter tree as matched; for a
	// pre-quantized module its float parameters (the weight at its float
	// shape, no scales or biases).
	Spec model.Module
	// Params are the float parameters in attribute order (nil for a
	// pre-quantized module).
	Params []Param
	// Quant is set for a module quantized in the checkpoint (MLX, or an
	// AWQ/GPTQ import); Weight (packed uint32), Scales, Biases (affine
	// only) and the optional Bias hold its tensors.
	Quant                        *mlx.QuantParams
	Weight, Scales, Biases, Bias *Input
}

// Input returns the input of float parameter name, or nil.
func (m *Module) Input(name string) *Input {
	for _, p := range m.Params {
		if p.Name == name {
			return p.Input
		}
	}
	return nil
}

// Model is a checkpoint read as mlx-lm would load it: the model type, its
// family, the config after the loader's edits, the parameter tree and
// every module in module order.
type Model struct {
	ModelType string
	Family    *model.Family
	// Config is config.json after the loader's edits (eos_token_id from
	// generation_config.json, an imported quantization): a copy the caller
	// may change.
	Config *pyjson.Object
	// Tree is the parameter tree built from the config.
	Tree    *model.Tree
	Modules []Module
}

// loader runs the stages every use of a checkpoint shares.
type loader struct {
	modelType string
	inv       *Inventory
	arch      *model.Family
	cfgObj    *pyjson.Object
	cfg       model.Config
	spec      *model.Tree
	ts        *tensorSet
	// loaded quantization (pre-quantized checkpoint): the config's
	// "quantization" object after the load-time import.
	loadQuant *pyjson.Object
	// qcFromHF: quantization_config is hf_quant_config.json's.
	qcFromHF bool
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

// LoadModel matches the inventory's checkpoint against its architecture:
// the loader's config edits, the parameter tree built from config.json,
// the architecture's sanitize (renames, drops, expert stacks), the import
// of pre-quantized checkpoints, and MLX's strict name and shape check. It
// reads no tensor data. Errors are those of makePlan.
func LoadModel(inv *Inventory) (*Model, error) {
	return LoadModelWith(inv, nil)
}

// LoadModelWith is LoadModel with the family's MLX part replaced by x
// (the GGUF export's view of a checkpoint, model.GGUF.MLX); a nil x is
// LoadModel. Model.Family is the family as found, unchanged.
func LoadModelWith(inv *Inventory, x *model.MLX) (*Model, error) {
	found, err := lookup(inv.Config)
	if err != nil {
		return nil, err
	}
	arch := found
	if x != nil {
		cp := *found
		cp.MLX = *x
		arch = &cp
	}
	pl := &loader{inv: inv, arch: arch, cfgObj: cloneValue(inv.Config).(*pyjson.Object)}
	mods, err := pl.prepare()
	if err != nil {
		return nil, err
	}
	m := &Model{ModelType: pl.modelType, Family: found, Config: pl.cfgObj, Tree: pl.spec, Modules: make([]Module, len(mods))}
	for i, st := range mods {
		mod := Module{Path: st.spec.Path, Kind: st.spec.Kind, Spec: st.spec}
		if st.q != nil {
			q := *st.q
			mod.Quant = &q
			mod.Weight, mod.Scales, mod.Biases, mod.Bias = st.qw, st.qs, st.qb, st.bias
		} else {
			for _, p := range st.spec.Params {
				if in := st.params[p.Name]; in != nil {
					mod.Params = append(mod.Params, Param{Name: p.Name, Input: in})
				}
			}
		}
		m.Modules[i] = mod
	}
	return m, nil
}

// prepare runs the stages every use of the checkpoint shares: the loader's
// config edits, the architecture's parameter tree and sanitize, the import
// of pre-quantized checkpoints, and the strict name/shape match.
func (pl *loader) prepare() ([]modState, error) {
	pl.cfg = newConfig(pl.cfgObj, "config.json")
	pl.modelType, _ = pl.cfg.Str("model_type")
	pl.loadConfigEdits()
	if pl.arch.MLX.LegacyRope {
		model.AddLegacyRope(pl.cfgObj)
	}
	if pl.arch.MLX.ConfigEdit != nil {
		pl.arch.MLX.ConfigEdit(pl.cfgObj)
	}

	pl.ts = newTensorSet(pl.inv.Tensors)
	spec, err := pl.arch.MLX.Build(pl.cfg, tensorView{pl.ts})
	if err != nil {
		return nil, err
	}
	pl.spec = spec
	if err := pl.arch.MLX.SanitizeTensors(spec, pl.cfg, tensorView{pl.ts}); err != nil {
		return nil, err
	}
	srcFormat := sourceQuantFormat(pl.cfg, pl.qcFromHF)
	if err := pl.importQuantization(); err != nil {
		return nil, err
	}
	mods, err := pl.match()
	if err != nil {
		if qerr := pl.refuseSourceQuant(srcFormat); qerr != nil {
			return nil, qerr
		}
		return nil, err
	}
	return mods, nil
}

// loadConfigEdits applies what mlx-lm's loader changes in the config:
// eos_token_id from generation_config.json, a quantization_config hoisted
// from text_config, hf_quant_config.json.
func (pl *loader) loadConfigEdits() {
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
		pl.qcFromHF = true
	}
}

// importQuantization handles a checkpoint that is already quantized: an
// MLX "quantization" entry, or a quantization_config whose method mlx-lm
// loads (AWQ/GPTQ are repacked here).
func (pl *loader) importQuantization() error {
	if q := pl.cfg.Object("quantization"); q != nil {
		pl.loadQuant = q
		return nil
	}
	qc := pl.cfg.Object("quantization_config")
	if qc == nil {
		if v, ok := pl.cfg.Value("quantization"); ok {
			return fmt.Errorf("%w: config.json \"quantization\" is %s, want an object", model.ErrConfig, describe(v))
		}
		return nil
	}
	if err := pl.checkQuantMethod(qc); err != nil {
		return err
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
func (pl *loader) mlxQuantization(qcc model.Config) (*pyjson.Object, error) {
	switch method, _ := qcc.Str("quant_method"); method {
	case "bitnet":
		return nil, fmt.Errorf("%w: bitnet checkpoints (quant_method \"bitnet\") are not supported", model.ErrUnsupported)
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
		return nil, fmt.Errorf("%w: unsupported compressed-tensors format %q; dequantize to bf16 before converting", model.ErrUnsupported, f)
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
		return nil, fmt.Errorf("%w: unsupported modelopt quant_algo %q", model.ErrUnsupported, algo)
	}
	g, err := settings.IntOr("group_size", 16)
	if err != nil {
		return nil, err
	}
	return mlxQuantEntry(g, 4, "nvfp4"), nil
}

// awqQuantization checks an AutoAWQ/GPTQ config (4 bits, a positive group
// size) and repacks the tensors (importAWQ) into affine 4-bit.
func (pl *loader) awqQuantization(qcc model.Config) (*pyjson.Object, error) {
	bits, err := qcc.IntOr("bits", 4)
	if err != nil {
		return nil, err
	}
	if bits != 4 {
		return nil, fmt.Errorf("%w: only bits=4 is supported for AutoAWQ/GPTQ models (got %d)", model.ErrUnsupported, bits)
	}
	group, err := qcc.IntOr("group_size", 128)
	if err != nil {
		return nil, err
	}
	if group <= 0 {
		return nil, fmt.Errorf("%w: AWQ/GPTQ group_size %d", model.ErrConfig, group)
	}
	if err := pl.importAWQ(); err != nil {
		return nil, err
	}
	return mlxQuantEntry(group, 4, ""), nil
}

// importAWQ rewrites AutoAWQ/GPTQ tensors (X.qweight, X.qzeros, X.scales)
// into MLX affine 4-bit X.weight/X.scales/X.biases, and casts every other
// float tensor to the scales' dtype, as mlx-lm's _transform_awq_weights.
func (pl *loader) importAWQ() error {
	ts := pl.ts
	out := &tensorSet{m: map[string]*Input{}}
	var modelDType mlx.DType
	for _, n := range ts.names() {
		in, _ := ts.get(n)
		switch {
		case strings.HasSuffix(n, ".g_idx"):
			return fmt.Errorf("%w: found %q in weights: models with non-contiguous group indices (g_idx) are not supported", model.ErrUnsupported, n)
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
		return fmt.Errorf("%w: AWQ/GPTQ checkpoint without any qweight tensor", model.ErrWeights)
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
	return nil
}

// repackAWQ sets in out the MLX weight, scales and biases of the AWQ
// module whose qweight n (tensor in) is, and returns the scales' dtype.
func repackAWQ(ts, out *tensorSet, n string, in *Input) (mlx.DType, error) {
	prefix := strings.TrimSuffix(n, ".qweight")
	scales, ok := ts.get(prefix + ".scales")
	if !ok {
		return mlx.Invalid, fmt.Errorf("%w: %q has no %s.scales", model.ErrWeights, n, prefix)
	}
	if len(in.Shape) != 2 || !isInt32(in.DType) {
		return mlx.Invalid, fmt.Errorf("%w: tensor %q: AWQ qweight must be a 2-D int32, got %s%v", model.ErrWeights, n, in.DType, in.Shape)
	}
	inF, packedOut := in.Shape[0], in.Shape[1]
	outF := packedOut * 8
	if inF%8 != 0 {
		return mlx.Invalid, fmt.Errorf("%w: tensor %q: in_features %d is not a multiple of 8", model.ErrWeights, n, inF)
	}
	if len(scales.Shape) != 2 || scales.Shape[1] != outF || !scales.DType.IsFloat() {
		return mlx.Invalid, fmt.Errorf("%w: tensor %q: AWQ scales %s%v do not match qweight %v", model.ErrWeights, prefix+".scales", scales.DType, scales.Shape, in.Shape)
	}
	groups := scales.Shape[0]
	out.set(prefix+".weight", &Input{DType: mlx.U32, Shape: []int{outF, inF / 8}, Op: OpAWQWeight, Sources: slices.Clone(in.Sources)})
	out.set(prefix+".scales", &Input{DType: scales.DType, Shape: []int{outF, groups}, Op: OpAWQScales, Sources: slices.Clone(scales.Sources)})
	srcs := slices.Clone(scales.Sources)
	if z, ok := ts.get(prefix + ".qzeros"); ok {
		if len(z.Shape) != 2 || z.Shape[0] != groups || z.Shape[1]*8 != outF || !isInt32(z.DType) {
			return mlx.Invalid, fmt.Errorf("%w: tensor %q: AWQ qzeros %s%v do not match scales %v", model.ErrWeights, prefix+".qzeros", z.DType, z.Shape, scales.Shape)
		}
		srcs = append(srcs, z.Sources...)
	}
	out.set(prefix+".biases", &Input{DType: scales.DType, Shape: []int{outF, groups}, Op: OpAWQBiases, Sources: srcs})
	return scales.DType, nil
}

// isInt32 reports whether dt is a 32-bit integer type (AWQ packs into
// int32, some exporters write uint32).
func isInt32(dt mlx.DType) bool { return dt == mlx.I32 || dt == mlx.U32 }

func (pl *loader) where(in *Input) string {
	if len(in.Sources) == 0 || pl.inv == nil || in.Sources[0].File >= len(pl.inv.Files) {
		return ""
	}
	return " (" + pl.inv.Files[in.Sources[0].File] + ")"
}

// inferQuant recovers a pre-quantized module's parameters from shapes and
// the scales dtype (mlx-lm's infer_quant_config).
func inferQuant(path string, inDims int, w, s *Input) (mlx.QuantParams, error) {
	if len(s.Shape) == 0 || s.Shape[len(s.Shape)-1] == 0 || len(w.Shape) == 0 || inDims == 0 {
		return mlx.QuantParams{}, fmt.Errorf("%w: module %q: cannot infer its quantization from weight %v and scales %v", model.ErrWeights, path, w.Shape, s.Shape)
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
	return mlx.QuantParams{}, fmt.Errorf("%w: cannot infer the quantization mode of %q: %d bits with group size %d", model.ErrWeights, path, bits, group)
}

// QuantShapes returns the packed weight and the scales shapes of a float
// weight shape quantized with p.
func QuantShapes(path string, wshape []int, p mlx.QuantParams) (packed, scales []int, err error) {
	if len(wshape) == 0 {
		return nil, nil, fmt.Errorf("%w: module %q: scalar weight cannot be quantized", model.ErrWeights, path)
	}
	in := wshape[len(wshape)-1]
	if p.GroupSize <= 0 || p.Bits <= 0 || in%p.GroupSize != 0 || (in*p.Bits)%32 != 0 {
		return nil, nil, fmt.Errorf("%w: module %q: last dimension %d does not fit %d-bit groups of %d", model.ErrWeights, path, in, p.Bits, p.GroupSize)
	}
	lead := wshape[:len(wshape)-1]
	packed = append(slices.Clone(lead), in*p.Bits/32)
	scales = append(slices.Clone(lead), in/p.GroupSize)
	return packed, scales, nil
}

// match pairs every spec parameter with a sanitized checkpoint tensor,
// exactly as MLX's load_weights(strict=True) would (names and shapes), and
// recognises pre-quantized modules.
func (pl *loader) match() ([]modState, error) {
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
	pl        *loader
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
		return fmt.Errorf("%w: %s", model.ErrWeights, strings.Join(msgs, "; "))
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
func (pl *loader) namedQuant(m moduleSpec, entry pyjson.Value) (*mlx.QuantParams, error) {
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
		return nil, fmt.Errorf("%w: %s is %s (not quantized), but the checkpoint stores %s packed (%s.scales); mlx-lm refuses it", model.ErrConfig, field, what, m.Path, m.Path)
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
func (pl *loader) entryQuant(path, field string, entry pyjson.Value) (*mlx.QuantParams, error) {
	var p mlx.QuantParams
	var err error
	switch e := entry.(type) {
	case *pyjson.Object:
		p, err = QuantParams(e, "config.json quantization."+path)
	case bool:
		if !e {
			return nil, nil
		}
		p, err = QuantParams(pl.loadQuant, "config.json quantization")
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: %s is %s, want an object or a bool", model.ErrConfig, field, describe(entry))
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
		return fmt.Errorf("%w: module %q is quantized in the checkpoint but is not a Linear/Embedding layer", model.ErrWeights, m.Path)
	}
	ws, _ := m.Param("weight")
	fshape := slices.Clone(ws.Shape)
	if pl.spec.Generic && len(fshape) > 0 {
		fshape[len(fshape)-1] = fshape[len(fshape)-1] * 32 / qp.Bits
	}
	packed, sshape, err := QuantShapes(m.Path, fshape, *qp)
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
		return fmt.Errorf("%w: module %q has an nvfp4 global_scale, which is not supported", model.ErrUnsupported, m.Path)
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
func (pl *loader) checkQuantDTypes(st *modState) error {
	path, mode := st.spec.Path, st.q.Mode
	if st.qw != nil && st.qw.DType != mlx.U32 {
		return fmt.Errorf("%w: tensor %q%s is %s, a quantized weight must be uint32", model.ErrWeights, path+".weight", pl.where(st.qw), st.qw.DType)
	}
	if st.qs == nil {
		return nil
	}
	if mode != mlx.Affine && st.qs.DType != mlx.U8 {
		return fmt.Errorf("%w: tensor %q%s is %s, %s scales must be uint8", model.ErrWeights, path+".scales", pl.where(st.qs), st.qs.DType, mode)
	}
	if mode == mlx.Affine && !st.qs.DType.IsFloat() {
		return fmt.Errorf("%w: tensor %q%s is %s, affine scales must be float", model.ErrWeights, path+".scales", pl.where(st.qs), st.qs.DType)
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
func (pl *loader) checkQuantEntry(m moduleSpec, field string, qp mlx.QuantParams) error {
	says := fmt.Sprintf("says %d-bit %s with group size %d", qp.Bits, qp.Mode, qp.GroupSize)
	w, okw := pl.ts.get(m.Path + ".weight")
	s, oks := pl.ts.get(m.Path + ".scales")
	if !oks {
		return fmt.Errorf("%w: %s %s, but the checkpoint stores %s unquantized (no %s.scales); mlx-lm refuses it", model.ErrConfig, field, says, m.Path, m.Path)
	}
	if !okw || pl.spec.Generic || !m.Kind.Quantizable() {
		return nil // reported by match
	}
	ws, _ := m.Param("weight")
	packed, sshape, err := QuantShapes(m.Path, ws.Shape, qp)
	if err != nil || (slices.Equal(w.Shape, packed) && slices.Equal(s.Shape, sshape)) {
		return nil // an impossible entry is reported by match
	}
	stored := fmt.Sprintf("%s.weight %v and %s.scales %v%s", m.Path, w.Shape, m.Path, s.Shape, pl.where(w))
	if len(ws.Shape) > 0 {
		if p, err := inferQuant(m.Path, ws.Shape[len(ws.Shape)-1], w, s); err == nil {
			stored = fmt.Sprintf("%d-bit %s with group size %d (%s)", p.Bits, p.Mode, p.GroupSize, stored)
		}
	}
	return fmt.Errorf("%w: %s %s, but the checkpoint stores %s packed as %s; mlx-lm refuses it", model.ErrConfig, field, says, m.Path, stored)
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

// ReadSource reads len(p) bytes of source tensor src's data at offset off
// (as io.ReaderAt). The inventory must have been loaded from a directory.
func (inv *Inventory) ReadSource(src SourceTensor, p []byte, off int64) (int, error) {
	if src.File < 0 || src.File >= len(inv.readers) || inv.readers[src.File] == nil {
		return 0, fmt.Errorf("convert: input file %d is not open", src.File)
	}
	sec, err := inv.readers[src.File].Section(src.Name)
	if err != nil {
		return 0, err
	}
	return sec.ReadAt(p, off)
}

// QuantParams reads an MLX quantization entry ({"group_size": 64,
// "bits": 4, "mode": "affine"}) the way to_quantized(**dict) does: missing or null group_size/bits take the mode's defaults, a missing
// mode is affine.
func QuantParams(o *pyjson.Object, where string) (mlx.QuantParams, error) {
	c := newConfig(o, where)
	mode := mlx.Affine
	if s, ok := c.Str("mode"); ok {
		m, err := mlx.ParseQuantMode(s)
		if err != nil {
			return mlx.QuantParams{}, fmt.Errorf("%w: %s: %v", model.ErrConfig, where, err)
		}
		mode = m
	}
	g, err := c.IntOr("group_size", mode.DefaultGroupSize())
	if err != nil {
		return mlx.QuantParams{}, err
	}
	b, err := c.IntOr("bits", mode.DefaultBits())
	if err != nil {
		return mlx.QuantParams{}, err
	}
	if g == 0 {
		g = mode.DefaultGroupSize()
	}
	if b == 0 {
		b = mode.DefaultBits()
	}
	return mlx.QuantParams{Mode: mode, Bits: b, GroupSize: g}, nil
}
