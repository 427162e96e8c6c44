package convert

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/source"
)

// jobAction is what a job does to its input tensors.
type jobAction uint8

const (
	// actCopy writes the input bytes unchanged.
	actCopy jobAction = iota
	// actCast casts a float input to planJob.DType.
	actCast
	// actQuantize casts the weight to planJob.DType (if set and different) and
	// quantizes it: outputs weight, scales and (affine) biases.
	actQuantize
	// actDequantize casts float scales/biases to planJob.DType (if set) and
	// dequantizes: one output, the float weight.
	actDequantize
)

var actionNames = [...]string{actCopy: "copy", actCast: "cast", actQuantize: "quantize", actDequantize: "dequantize"}

func (a jobAction) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// planJob is one unit of planned work: read the inputs, transform, write the
// outputs. Jobs touch disjoint output ranges and can run in any order.
type planJob struct {
	Module string // the module path, for messages
	Action jobAction
	// Inputs: one for copy, cast and quantize (the weight); weight, scales
	// and, for affine, biases for dequantize.
	Inputs []*source.Input
	// DType is the cast target: the output dtype of a cast, the dtype the
	// weight is cast to before quantizing, the dtype float scales/biases
	// are cast to before dequantizing. Invalid means no cast.
	DType mlx.DType
	// Quant holds the quantization parameters of quantize and dequantize
	// (Rounding is the backend's, set at execution).
	Quant mlx.QuantParams
	// Outputs index mlxPlan.Tensors, in the order the action produces them
	// (weight, scales, biases for quantize).
	Outputs []int
	// Note says why a module is (not) quantized the way it is.
	Note string
}

// outTensor is one output tensor.
type outTensor struct {
	Name   string
	DType  mlx.DType
	Shape  []int
	Shard  int   // index into mlxPlan.Shards
	Offset int64 // offset of the body in the shard's data section
	Job    int   // index into mlxPlan.Jobs
}

// Size returns the body's byte size.
func (t *outTensor) Size() int64 { return numElements(t.Shape) * int64(t.DType.Size()) }

// outShard is one output safetensors file.
type outShard struct {
	Name     string
	Tensors  []int // indexes into mlxPlan.Tensors, in data order
	DataSize int64
}

// mlxPlan is a complete, I/O-free description of a conversion.
type mlxPlan struct {
	ModelType string
	Arch      string    // the architecture entry ("generic" for the fallback)
	DType     mlx.DType // the cast dtype (Invalid: floats keep their dtype)
	// Quant is the global quantization of this run (nil without -q).
	Quant *mlx.QuantParams
	// Recipe is the mixed-precision recipe, "" for none.
	Recipe string
	// Dequantize is set for -d.
	Dequantize bool

	Tensors []outTensor // output tensors in module order
	Jobs    []planJob
	Shards  []outShard

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
func (p *mlxPlan) BitsPerWeight() float64 {
	if p.TotalParameters == 0 {
		return 0
	}
	return float64(p.TotalSize) * 8 / float64(p.TotalParameters)
}

// defaultMaxShardSize is mlx-lm's shard limit, 5 GiB.
const defaultMaxShardSize int64 = 5 << 30

// makePlan decides every output tensor of a conversion from the inventory
// and the options, reading nothing. It follows mlx_lm.convert's pipeline:
// the architecture's sanitize, pre-quantized layers, the dtype cast, then
// quantization (recipes, per-model overrides, then rules) or
// dequantization, and mlx-lm's sharding and config edits.
func makePlan(inv *source.Inventory, opts Options) (*mlxPlan, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m, err := source.LoadModel(inv)
	if err != nil {
		return nil, err
	}
	pl := &planner{inv: inv, opts: opts, arch: m.Family, cfgObj: m.Config, spec: m.Tree}
	pl.cfg = newConfig(pl.cfgObj, "config.json")
	pl.plan = &mlxPlan{ModelType: m.ModelType, Arch: m.Family.Name, Recipe: string(opts.QuantPredicate), Dequantize: opts.Dequantize,
		Aux: slices.Clone(inv.Aux)}
	return pl.run(m.Modules)
}

type planner struct {
	inv    *source.Inventory
	opts   Options
	arch   *model.Family
	cfgObj *pyjson.Object
	cfg    config
	spec   *modelSpec
	plan   *mlxPlan
}

func (pl *planner) run(mods []source.Module) (*mlxPlan, error) {
	spec := pl.spec
	var err error

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

func (pl *planner) where(in *source.Input) string {
	if len(in.Sources) == 0 || pl.inv == nil || in.Sources[0].File >= len(pl.inv.Files) {
		return ""
	}
	return " (" + pl.inv.Files[in.Sources[0].File] + ")"
}

func numElements(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
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
	pl.plan.Tensors = append(pl.plan.Tensors, outTensor{Name: name, DType: dt, Shape: slices.Clone(shape), Job: len(pl.plan.Jobs)})
	return len(pl.plan.Tensors) - 1
}

// addPassthrough plans a copy or a cast of one input to dtype to (Invalid:
// keep).
func (pl *planner) addPassthrough(module, name string, in *source.Input, to mlx.DType, note string) {
	out := castFor(in.DType, to)
	j := planJob{Module: module, Action: actCopy, Inputs: []*source.Input{in}, Note: note}
	if out != in.DType {
		j.Action, j.DType = actCast, out
	}
	j.Outputs = []int{pl.addTensor(name, out, in.Shape)}
	pl.plan.Jobs = append(pl.plan.Jobs, j)
}

// planModule plans one module: pre-quantized (kept or dequantized) or
// float (quantized with q, or cast). floatDType overrides the global cast
// dtype for a float module (a dtype rule).
func (pl *planner) planModule(st *source.Module, q *mlx.QuantParams, note string, floatDType ...mlx.DType) error {
	cast := pl.plan.DType
	if len(floatDType) > 0 && floatDType[0] != mlx.Invalid {
		cast = floatDType[0]
	}
	// get_total_parameters counts a quantized weight at its float size and
	// skips scales/biases, so the count is the float model's.
	for _, p := range st.Spec.Params {
		if !st.Spec.NotLeaf { // arrays of a non-leaf module are not counted
			pl.plan.TotalParameters += numElements(p.Shape)
		}
	}
	if st.Quant != nil {
		pl.planPrequantized(st, cast, note)
		return nil
	}
	path := st.Spec.Path
	for _, p := range st.Spec.Params {
		in := st.Input(p.Name)
		name := joinName(path, p.Name)
		if p.Name == "weight" && q != nil {
			if err := pl.planQuantize(path, name, in, *q, note); err != nil {
				return err
			}
			continue
		}
		c := cast
		if keep := pl.arch.MLX.KeepDType; keep != nil && keep(name) {
			c = mlx.Invalid // the model's cast_predicate
		}
		pl.addPassthrough(path, name, in, c, note)
	}
	return nil
}

// planPrequantized plans a pre-quantized module: dequantized (--dequantize)
// or kept packed, its scales, biases and bias cast to cast.
func (pl *planner) planPrequantized(st *source.Module, cast mlx.DType, note string) {
	path := st.Spec.Path
	if pl.opts.Dequantize && st.Spec.Kind.Dequantizable() {
		pl.planDequantize(st, cast, note)
	} else {
		pl.addPassthrough(path, joinName(path, "weight"), st.Weight, mlx.Invalid, note)
		pl.addPassthrough(path, joinName(path, "scales"), st.Scales, cast, note)
		if st.Biases != nil {
			pl.addPassthrough(path, joinName(path, "biases"), st.Biases, cast, note)
		}
	}
	if st.Bias != nil {
		pl.addPassthrough(path, joinName(path, "bias"), st.Bias, cast, note)
	}
}

// planDequantize plans a job dequantizing a pre-quantized weight: to the
// (cast) scales dtype for affine, to bf16 for the fp modes.
func (pl *planner) planDequantize(st *source.Module, cast mlx.DType, note string) {
	path := st.Spec.Path
	inputs := []*source.Input{st.Weight, st.Scales}
	if st.Biases != nil {
		inputs = append(inputs, st.Biases)
	}
	out := mlx.BF16 // mx.dequantize's default for the fp modes
	j := planJob{Module: path, Action: actDequantize, Inputs: inputs, Quant: *st.Quant, Note: note}
	if st.Quant.Mode == mlx.Affine {
		out = castFor(st.Scales.DType, cast)
		if out != st.Scales.DType {
			j.DType = out
		}
	}
	ws, _ := st.Spec.Param("weight")
	j.Outputs = []int{pl.addTensor(joinName(path, "weight"), out, ws.Shape)}
	pl.plan.Jobs = append(pl.plan.Jobs, j)
}

// planQuantize plans a job quantizing the float weight in (tensor name)
// with q, cast first to the run's dtype.
func (pl *planner) planQuantize(path, name string, in *source.Input, q mlx.QuantParams, note string) error {
	if !in.DType.IsFloat() {
		return fmt.Errorf("%w: tensor %q%s is %s and cannot be quantized", ErrWeights, name, pl.where(in), in.DType)
	}
	wdt := castFor(in.DType, pl.plan.DType)
	packed, sshape, err := source.QuantShapes(path, in.Shape, q)
	if err != nil {
		return err
	}
	j := planJob{Module: path, Action: actQuantize, Inputs: []*source.Input{in}, Quant: q, Note: note}
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
func (pl *planner) planQuantized(mods []source.Module, rec *recipe) error {
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
func (pl *planner) quantDecision(qr *quantRun, st *source.Module) (quantDecision, error) {
	if st.Quant != nil {
		return quantDecision{note: "already quantized"}, nil
	}
	w := st.Input("weight")
	quantizable := st.Spec.Kind.Quantizable() && w != nil && len(w.Shape) > 0
	lastDim := 0
	if quantizable {
		lastDim = w.Shape[len(w.Shape)-1]
	}
	if rule := pl.matchRule(st.Spec.Path); rule != nil {
		return qr.ruleDecision(rule, st.Spec.Path, quantizable, lastDim)
	}
	if !quantizable {
		return quantDecision{}, nil
	}
	if lastDim%qr.global.GroupSize != 0 {
		return quantDecision{note: fmt.Sprintf("last dimension %d is not a multiple of %d", lastDim, qr.global.GroupSize)}, nil
	}
	return qr.defaultDecision(st.Spec.Path)
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
	p, err := source.QuantParams(entry, "quantization."+path)
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
		limit = defaultMaxShardSize
	}
	p := pl.plan
	var cur int64
	for i := range p.Tensors {
		t := &p.Tensors[i]
		sz := t.Size()
		if len(p.Shards) == 0 || (cur+sz > limit && len(p.Shards[len(p.Shards)-1].Tensors) > 0) {
			p.Shards = append(p.Shards, outShard{})
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
