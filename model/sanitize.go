package model

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// Sanitize rules: a family's sanitize as data (MLX.Rules), applied in
// order before the MLX.Sanitize hook. Each rule is a plain value; what a
// rule cannot express stays in the hook. The rules rewrite names and
// shapes only (through Tensors); the bytes of a split or transformed
// tensor are produced when the plan is executed.

// SanitizeRule is one step of a family's sanitize: Drop, Rename, TiedHead,
// OptionalHead, Require, StackExperts, Split, Bitcast, Transform, Scale,
// IfConfig, IfShape, When or Nest.
type SanitizeRule interface {
	apply(r *ruleRun) error
}

// ruleRun is what a rule works on.
type ruleRun struct {
	tree *Tree
	cfg  Config
	ts   Tensors
}

// ApplyRules applies rules in order to ts (and, for OptionalHead, to m).
func ApplyRules(rules []SanitizeRule, m *Tree, c Config, ts Tensors) error {
	r := &ruleRun{tree: m, cfg: c, ts: ts}
	for _, rule := range rules {
		if err := rule.apply(r); err != nil {
			return err
		}
	}
	return nil
}

// SanitizeTensors is the family's whole sanitize: Rules, then the
// Sanitize hook.
func (x *MLX) SanitizeTensors(m *Tree, c Config, ts Tensors) error {
	if err := ApplyRules(x.Rules, m, c, ts); err != nil {
		return err
	}
	if x.Sanitize != nil {
		return x.Sanitize(m, c, ts)
	}
	return nil
}

// HasSanitize reports whether the family rewrites the checkpoint at all.
func (x *MLX) HasSanitize() bool { return len(x.Rules) > 0 || x.Sanitize != nil }

// ---- name patterns

// MatchKind is how a Match tests a tensor name.
type MatchKind uint8

const (
	MatchContains MatchKind = iota // the name contains S
	MatchPrefix                    // the name starts with S
	MatchSuffix                    // the name ends with S
	MatchTop                       // the name's first dotted component is S
)

// Match is a name pattern. In S, "{key}" stands for the config's integer
// at key (a Prefix "model.layers.{num_hidden_layers}" is the string prefix
// glm4_moe's sanitize drops its MTP layer by; note that, as there, layer
// 40 matches "model.layers.4").
type Match struct {
	Kind MatchKind
	S    string
}

// Contains, Prefix, Suffix and Top make a Match.
func Contains(s string) Match { return Match{MatchContains, s} }
func Prefix(s string) Match   { return Match{MatchPrefix, s} }
func Suffix(s string) Match   { return Match{MatchSuffix, s} }
func Top(s string) Match      { return Match{MatchTop, s} }

// expand replaces each {key} of s by the config integer at key.
func expand(c Config, s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("%w: sanitize pattern %q has an unclosed {", ErrConfig, s)
		}
		n, err := c.ReqInt(s[i+1 : i+j])
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i])
		b.WriteString(strconv.Itoa(n))
		s = s[i+j+1:]
	}
}

// matcher returns the test of ms (any of them) with templates expanded.
func matcher(c Config, ms []Match) (func(string) bool, error) {
	exp := make([]Match, len(ms))
	for i, m := range ms {
		s, err := expand(c, m.S)
		if err != nil {
			return nil, err
		}
		exp[i] = Match{m.Kind, s}
	}
	return func(n string) bool {
		return slices.ContainsFunc(exp, func(m Match) bool { return m.matches(n) })
	}, nil
}

func (m Match) matches(n string) bool {
	switch m.Kind {
	case MatchPrefix:
		return strings.HasPrefix(n, m.S)
	case MatchSuffix:
		return strings.HasSuffix(n, m.S)
	case MatchTop:
		top, _, _ := strings.Cut(n, ".")
		return top == m.S
	}
	return strings.Contains(n, m.S)
}

// ---- the rules

// Drop removes every name matching any of its patterns.
type Drop []Match

func (d Drop) apply(r *ruleRun) error {
	match, err := matcher(r.cfg, d)
	if err != nil {
		return err
	}
	r.ts.Filter(func(n string) bool { return !match(n) })
	return nil
}

// FP8Dequant dequantizes block-scaled FP8 weights as the dequant of
// mlx-lm's deepseek_v3 and minimax sanitize: for each name containing
// "weight_scale_inv" (in order), the weight named by removing
// "_scale_inv" becomes bfloat16 (Tensors.DequantFP8 with Block×Block
// blocks) and the scales are popped. F32 keeps the float32 products
// (convert_hf_to_gguf.py's dequant_model) instead.
type FP8Dequant struct {
	Block int
	F32   bool
}

func (x FP8Dequant) apply(r *ruleRun) error {
	for _, n := range r.ts.Names() {
		if strings.Contains(n, "weight_scale_inv") {
			if err := r.ts.DequantFP8(strings.ReplaceAll(n, "_scale_inv", ""), n, x.Block, x.F32); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rename rewrites names: every occurrence of From becomes To (Python's
// str.replace), or with Prefix only a leading From. A name keeps its
// position; two names becoming one is an error.
type Rename struct {
	From, To string
	Prefix   bool
}

func (x Rename) apply(r *ruleRun) error {
	if x.From == "" {
		return fmt.Errorf("%w: rename rule with an empty From", ErrConfig)
	}
	for _, n := range r.ts.Names() {
		var to string
		switch {
		case x.Prefix && strings.HasPrefix(n, x.From):
			to = x.To + n[len(x.From):]
		case !x.Prefix && strings.Contains(n, x.From):
			to = strings.ReplaceAll(n, x.From, x.To)
		default:
			continue
		}
		if err := r.ts.Rename(n, to); err != nil {
			return err
		}
	}
	return nil
}

// Nest puts every name not starting with Under under it (a VLM
// wrapper's "language_model." + key). Names keep their position; two
// names becoming one is an error.
type Nest struct{ Under string }

func (x Nest) apply(r *ruleRun) error {
	if x.Under == "" {
		return fmt.Errorf("%w: nest rule with an empty Under", ErrConfig)
	}
	for _, n := range r.ts.Names() {
		if strings.HasPrefix(n, x.Under) {
			continue
		}
		if err := r.ts.Rename(n, x.Under+n); err != nil {
			return err
		}
	}
	return nil
}

// TiedHead drops lm_head.weight when tie_word_embeddings (Default when
// absent) holds: the embedding is the output head.
type TiedHead struct{ Default bool }

func (x TiedHead) apply(r *ruleRun) error {
	PopTiedHead(r.cfg, r.ts, x.Default)
	return nil
}

// OptionalHead removes the tree's Module (an lm_head) when the checkpoint
// has no Module.weight: the model ties it to the embedding (gemma3_text).
type OptionalHead struct{ Module string }

func (x OptionalHead) apply(r *ruleRun) error {
	if !r.ts.Has(x.Module + ".weight") {
		r.tree.RemoveModule(x.Module)
	}
	return nil
}

// Require fails unless some name matches Match; Why says what the model
// expects instead.
type Require struct {
	Match Match
	Why   string
}

func (x Require) apply(r *ruleRun) error {
	match, err := matcher(r.cfg, []Match{x.Match})
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(r.ts.Names(), match) {
		return fmt.Errorf("%w: no checkpoint tensor matches %q (%s)", ErrWeights, x.Match.S, x.Why)
	}
	return nil
}

// LayerSource is where StackExperts finds the layers whose experts it
// stacks.
type LayerSource uint8

const (
	// LayersFromConfig: every layer below num_hidden_layers (mixtral,
	// qwen2_moe, deepseek_v3 …); with Optional parts a layer without
	// experts is skipped.
	LayersFromConfig LayerSource = iota
	// LayersFromNames: the layers holding expert 0 of the first
	// projection, sorted (qwen3_moe, qwen3_next).
	LayersFromNames
)

// StackExperts stacks the per-expert tensors of the MoE block of each
// layer into Stack.Stacked (model.ExpertStack), as the MoE models'
// sanitize does.
type StackExperts struct {
	Stack ExpertStack
	// Layers is the decoder layers' prefix ("model.layers."); Block the
	// MoE block in a layer ("mlp", "block_sparse_moe").
	Layers, Block string
	From          LayerSource
	// Count is the config key of the expert count, CountDefault its
	// default; LayersDefault is num_hidden_layers' default.
	Count                       string
	CountDefault, LayersDefault int
	// Gate: do nothing unless layer 0 has expert 0 of the first projection
	// (the models that return early when already stacked).
	Gate bool
	// FirstSparse is the config key of the first sparse layer (dots1's
	// first_k_dense_replace); "" for 0.
	FirstSparse string
}

func (x StackExperts) expert0(layer string) string {
	return x.Layers + layer + "." + x.Block + "." + x.Stack.Experts + ".0." + x.Stack.Names[0][0] + ".weight"
}

func (x StackExperts) apply(r *ruleRun) error {
	if len(x.Stack.Names) == 0 {
		return fmt.Errorf("%w: expert stack rule without names", ErrConfig)
	}
	if x.Gate && !r.ts.Has(x.expert0("0")) {
		return nil
	}
	experts, _ := r.cfg.IntOr(x.Count, x.CountDefault)
	layers, err := x.layers(r, experts)
	if err != nil {
		return err
	}
	for _, l := range layers {
		if err := x.Stack.Apply(r.ts, x.Layers+strconv.Itoa(l)+"."+x.Block, experts); err != nil {
			return err
		}
	}
	return nil
}

// layers returns the layers to stack, in order, after checking the
// expert and layer counts against the checkpoint.
func (x StackExperts) layers(r *ruleRun, experts int) ([]int, error) {
	if x.From == LayersFromNames {
		if err := CheckExperts(experts, 0, r.ts); err != nil {
			return nil, err
		}
		return x.layersFromNames(r.ts)
	}
	n, _ := r.cfg.IntOr("num_hidden_layers", x.LayersDefault)
	if err := CheckExperts(experts, n, r.ts); err != nil {
		return nil, err
	}
	first := 0
	if x.FirstSparse != "" {
		var err error
		if first, err = r.cfg.IntOr(x.FirstSparse, 0); err != nil {
			return nil, err
		}
	}
	return LayerRange(n)[min(max(first, 0), max(n, 0)):], nil
}

// layersFromNames returns the sorted layer indices of the names holding
// expert 0 of the first projection; a layer index that is not a number is
// an error naming the tensor.
func (x StackExperts) layersFromNames(ts Tensors) ([]int, error) {
	suffix := strings.TrimPrefix(x.expert0(""), x.Layers)
	var out []int
	for _, n := range ts.Names() {
		if !strings.HasPrefix(n, x.Layers) || !strings.HasSuffix(n, suffix) {
			continue
		}
		idx, _, _ := strings.Cut(n[len(x.Layers):], ".")
		l, err := strconv.Atoi(idx)
		if err != nil {
			return nil, fmt.Errorf("%w: tensor %q: layer index %q is not a number", ErrWeights, n, idx)
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return out, nil
}

// Split cuts each tensor whose name contains From into len(Into) equal
// parts along Axis, naming part i by replacing From with Into[i]
// (granitemoe's input_linear along axis 1, hunyuan's gate_and_up_proj
// along axis 0). A negative Axis counts from the end. Without Interleave
// only axes 0 and 1 of a stored tensor are supported: each part is then
// one byte range of the source (axis 0) or one byte range per index of
// axis 0, stacked (axis 1). With Interleave part i is every len(Into)-th
// index from i (gpt_oss's v[..., ::2, :] and v[..., 1::2, :]), any axis:
// per index of the axes before Axis one strided range (a run of bytes per
// kept index), stacked.
// Reshaping splits (hunyuan's qkv_proj) stay in the hook.
type Split struct {
	From       string
	Into       []string
	Axis       int
	Interleave bool
}

func (x Split) apply(r *ruleRun) error {
	if x.From == "" || len(x.Into) < 2 {
		return fmt.Errorf("%w: split rule needs From and at least two parts", ErrConfig)
	}
	for _, n := range r.ts.Names() {
		if !strings.Contains(n, x.From) {
			continue
		}
		dsts := make([]string, len(x.Into))
		for i, p := range x.Into {
			dsts[i] = strings.ReplaceAll(n, x.From, p)
		}
		split := r.ts.Split
		if x.Interleave {
			split = r.ts.Interleave
		}
		if err := split(n, x.Axis, dsts); err != nil {
			return err
		}
	}
	return nil
}

// SplitShape returns the shape of each of parts equal parts of shape
// along axis (0 or 1, or that axis counted from the end), or an error
// naming tensor.
func SplitShape(tensor string, shape []int, axis, parts int) ([]int, error) {
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis > 1 || axis >= len(shape) {
		return nil, fmt.Errorf("%w: tensor %q: cannot split %v along axis %d (axes 0 and 1 only)", ErrWeights, tensor, shape, axis)
	}
	return InterleaveShape(tensor, shape, axis, parts)
}

// InterleaveShape returns the shape of each of parts interleaved parts of
// shape along axis (negative: from the end), or an error naming tensor.
func InterleaveShape(tensor string, shape []int, axis, parts int) ([]int, error) {
	if axis < -len(shape) || axis >= len(shape) {
		return nil, fmt.Errorf("%w: tensor %q: %v has no axis %d", ErrWeights, tensor, shape, axis)
	}
	if axis < 0 {
		axis += len(shape)
	}
	if parts < 1 || shape[axis]%parts != 0 {
		return nil, fmt.Errorf("%w: tensor %q: axis %d of %v does not split into %d parts", ErrWeights, tensor, axis, shape, parts)
	}
	out := slices.Clone(shape)
	out[axis] /= parts
	return out, nil
}

// Bitcast reinterprets the bytes of every tensor matching any of Match as
// DType (a safetensors dtype name: "U32"), the last axis scaled by the
// ratio of the element sizes (mx.view); with FlattenLast2 the last two
// axes are then merged (.flatten(-2)): gpt_oss's MXFP4 *_blocks, uint8
// [..., in/32, 16] read as uint32 [..., in/8]. Only names and shapes
// change; the bytes are the source's.
type Bitcast struct {
	Match        []Match
	DType        string
	FlattenLast2 bool
}

func (x Bitcast) apply(r *ruleRun) error {
	match, err := matcher(r.cfg, x.Match)
	if err != nil {
		return err
	}
	for _, n := range r.ts.Names() {
		if !match(n) {
			continue
		}
		if err := r.ts.Bitcast(n, x.DType, x.FlattenLast2); err != nil {
			return err
		}
	}
	return nil
}

// BitcastShape returns the shape of a tensor of shape s with elements of
// from bytes read as elements of to bytes (then with the last two axes
// merged when flatten), or an error naming tensor.
func BitcastShape(tensor string, s []int, from, to int, flatten bool) ([]int, error) {
	if len(s) == 0 || from <= 0 || to <= 0 || s[len(s)-1]*from%to != 0 || (flatten && len(s) < 2) {
		return nil, fmt.Errorf("%w: tensor %q: cannot read %v of %d-byte elements as %d-byte elements", ErrWeights, tensor, s, from, to)
	}
	out := slices.Clone(s)
	out[len(out)-1] = s[len(s)-1] * from / to
	if flatten {
		n := len(out)
		out = append(out[:n-2], out[n-2]*out[n-1])
	}
	return out, nil
}

// ValueOp is a value transform a Transform rule applies to a tensor.
type ValueOp uint8

const (
	// ValueNone leaves the values alone.
	ValueNone ValueOp = iota
	// ValueSwapLast2 swaps the last two axes of a 3-D tensor
	// (moveaxis(2, 1) of mamba's conv1d weights, lfm2's transpose(0, 2, 1)).
	ValueSwapLast2
	// ValueAddOne adds 1 to every element (qwen3_next's norms, stored as
	// the offset from 1), in the tensor's own dtype.
	ValueAddOne
	// ValueScale multiplies by a Scaling (falcon_h1's folded-in
	// multipliers), in the tensor's own dtype; set by Tensors.Scale.
	ValueScale
	// ValueSqueeze drops every axis of size 1 (apertus's XieLU alpha_p
	// and alpha_n, [1] to a scalar); the bytes are unchanged.
	ValueSqueeze
)

var valueOpNames = [...]string{ValueNone: "none", ValueSwapLast2: "swap-last2", ValueAddOne: "add-one", ValueScale: "scale",
	ValueSqueeze: "squeeze"}

func (o ValueOp) String() string {
	if int(o) < len(valueOpNames) {
		return valueOpNames[o]
	}
	return "ValueOp(" + strconv.Itoa(int(o)) + ")"
}

// Shape returns the shape of a tensor of shape s after the op, or an
// error naming tensor.
func (o ValueOp) Shape(tensor string, s []int) ([]int, error) {
	switch o {
	case ValueNone, ValueAddOne, ValueScale:
		return slices.Clone(s), nil
	case ValueSwapLast2:
		if len(s) != 3 {
			return nil, fmt.Errorf("%w: tensor %q: %s needs a 3-D tensor, not %v", ErrWeights, tensor, o, s)
		}
		return []int{s[0], s[2], s[1]}, nil
	case ValueSqueeze:
		return slices.DeleteFunc(slices.Clone(s), func(d int) bool { return d == 1 }), nil
	}
	return nil, fmt.Errorf("%w: tensor %q: unknown value op %s", ErrWeights, tensor, o)
}

// ShapeCond restricts a Transform to tensors of some shapes.
type ShapeCond uint8

const (
	AnyShape        ShapeCond = iota // every matching tensor
	LastDimNot1                      // shape[-1] != 1 (mamba's conv1d)
	LastDimOverDim1                  // shape[-1] > shape[1] (lfm2's conv)
	Rank1                            // 1-D tensors only (qwen3_next's norms)
)

func (c ShapeCond) holds(s []int) bool {
	switch c {
	case LastDimNot1:
		return len(s) > 0 && s[len(s)-1] != 1
	case LastDimOverDim1:
		return len(s) > 1 && s[len(s)-1] > s[1]
	case Rank1:
		return len(s) == 1
	}
	return true
}

// Transform applies Op to every tensor matching any of Match whose shape
// satisfies If.
type Transform struct {
	Match []Match
	If    ShapeCond
	Op    ValueOp
}

func (x Transform) apply(r *ruleRun) error {
	match, err := matcher(r.cfg, x.Match)
	if err != nil {
		return err
	}
	for _, n := range r.ts.Names() {
		if !match(n) {
			continue
		}
		if s, _ := r.ts.Shape(n); !x.If.holds(s) {
			continue
		}
		if err := r.ts.Transform(n, x.Op); err != nil {
			return err
		}
	}
	return nil
}

// Scaling is a ValueScale's factor, as mlx-lm's sanitize multiplies an
// array x by a Python float: By is rounded to x's dtype (a weakly typed
// scalar), and each product is computed in float32 and rounded to the
// dtype. With Rows, row i (first axis) is multiplied instead by
// By·Rows[i], that factor itself computed in the dtype from Rows[i]
// rounded to float32 then to the dtype (falcon_h1's
// ssm_in_multiplier * mup_vector.astype(dtype)).
type Scaling struct {
	By   float64
	Rows []float64
	// Widen: the converter's arithmetic instead (convert_hf_to_gguf.py
	// multiplies the float32 copy of a float16/bfloat16 tensor): the
	// tensor widened to float32, multiplied by each of Steps in turn, then
	// by Rows[i], each factor and product rounded to float32; the result
	// is float32.
	Widen bool
	Steps []float64
}

// ConfigFloat is a float config field with its dataclass default; with
// List, element Elem of a list field (falcon_h1's mlp_multipliers[1]).
type ConfigFloat struct {
	Key     string
	List    bool
	Elem    int
	Default float64
}

// Read returns the field's value: Default when the key is absent, an
// error when it is not a number (or the list is too short).
func (f ConfigFloat) Read(c Config) (float64, error) {
	raw, ok := c.obj.Get(f.Key)
	if !ok {
		return f.Default, nil
	}
	if f.List {
		list, isList := raw.([]pyjson.Value)
		if !isList {
			return 0, c.Errf(f.Key, "is %s, want a list of numbers", Describe(raw))
		}
		if f.Elem < 0 || f.Elem >= len(list) {
			return 0, c.Errf(f.Key, "has %d elements, want at least %d", len(list), f.Elem+1)
		}
		raw = list[f.Elem]
	}
	n, isNum := raw.(pyjson.Number)
	v, err := n.Float64()
	if !isNum || err != nil {
		return 0, c.Errf(f.Key, "holds %s, want a number", Describe(raw))
	}
	return v, nil
}

// Scale multiplies each tensor matching any of Match by the product of
// the config floats By (Python float arithmetic, left to right), a
// ValueScale; Rows, when set, gives per-row factors (see Scaling) from the
// config, the hook for what a list of keys cannot say.
type Scale struct {
	Match []Match
	By    []ConfigFloat
	Rows  func(c Config) ([]float64, error)
	// Widen computes as the GGUF converter does (see Scaling.Widen).
	Widen bool
}

func (x Scale) apply(r *ruleRun) error {
	match, err := matcher(r.cfg, x.Match)
	if err != nil {
		return err
	}
	sc := Scaling{By: 1, Widen: x.Widen}
	for i, f := range x.By {
		v, err := f.Read(r.cfg)
		if err != nil {
			return err
		}
		if x.Widen {
			sc.Steps = append(sc.Steps, v)
		}
		if i == 0 {
			sc.By = v
		} else {
			sc.By *= v
		}
	}
	if x.Rows != nil {
		if sc.Rows, err = x.Rows(r.cfg); err != nil {
			return err
		}
	}
	for _, n := range r.ts.Names() {
		if !match(n) {
			continue
		}
		if err := r.ts.Scale(n, sc); err != nil {
			return err
		}
	}
	return nil
}

// IfShape applies Rules only when tensor Name's shape satisfies If
// (falcon_h1 sanitizes only a checkpoint whose layer-0 conv1d is not yet in
// MLX's layout); a missing Name is an error, as mlx-lm's lookup is.
type IfShape struct {
	Name  string
	If    ShapeCond
	Rules []SanitizeRule
}

func (x IfShape) apply(r *ruleRun) error {
	s, ok := r.ts.Shape(x.Name)
	if !ok {
		return fmt.Errorf("%w: the model's sanitize needs tensor %q, which the checkpoint lacks", ErrWeights, x.Name)
	}
	if !x.If.holds(s) {
		return nil
	}
	for _, rule := range x.Rules {
		if err := rule.apply(r); err != nil {
			return err
		}
	}
	return nil
}

// IfConfig applies Rules only when the config's key is truthy (Python's
// bool; absent or null is false), or with Not only when it is not:
// granitemoehybrid's MoE and dense rewrites hang on bool(num_local_experts).
type IfConfig struct {
	Key   string
	Not   bool
	Rules []SanitizeRule
}

func (x IfConfig) apply(r *ruleRun) error {
	on, err := r.cfg.BoolOr(x.Key, false)
	if err != nil {
		return err
	}
	if on == x.Not {
		return nil
	}
	for _, rule := range x.Rules {
		if err := rule.apply(r); err != nil {
			return err
		}
	}
	return nil
}

// When applies Rules only when some name matches every pattern of All
// and its shape satisfies If (qwen3_next's sanitize returns early unless
// a layer has expert 0; qwen3_5 shifts its norms only when some conv1d
// weight is still in the checkpoint's layout). IfShape tests one named
// tensor; When any tensor.
type When struct {
	All   []Match
	If    ShapeCond
	Rules []SanitizeRule
}

func (x When) apply(r *ruleRun) error {
	tests := make([]func(string) bool, len(x.All))
	for i, m := range x.All {
		t, err := matcher(r.cfg, []Match{m})
		if err != nil {
			return err
		}
		tests[i] = t
	}
	hit := slices.ContainsFunc(r.ts.Names(), func(n string) bool {
		for _, t := range tests {
			if !t(n) {
				return false
			}
		}
		s, _ := r.ts.Shape(n)
		return x.If.holds(s)
	})
	if !hit {
		return nil
	}
	for _, rule := range x.Rules {
		if err := rule.apply(r); err != nil {
			return err
		}
	}
	return nil
}

// ---- helpers of the rules (and of hooks)

// PopTiedHead drops lm_head.weight when tie_word_embeddings (default def)
// holds: the embedding is the output head.
func PopTiedHead(c Config, ts Tensors, def bool) {
	if tie, _ := c.BoolOr("tie_word_embeddings", def); tie {
		ts.Pop("lm_head.weight")
	}
}

// QuantParts are the parameters of a (possibly quantized) Linear.
var QuantParts = []string{"weight", "scales", "biases"}

// CheckExperts bounds the expert and layer counts of a config by the
// checkpoint: a checkpoint cannot hold more experts than tensors (nor a
// negative number).
func CheckExperts(experts, layers int, ts Tensors) error {
	if experts < 0 || experts > ts.Len() || layers > MaxLayers {
		return fmt.Errorf("%w: %d experts in %d layers do not fit a checkpoint of %d tensors", ErrWeights, experts, layers, ts.Len())
	}
	return nil
}

// ExpertStack is the per-expert to stacked rewrite of one MoE block.
type ExpertStack struct {
	Experts string      // the per-expert container, e.g. "experts"
	Stacked string      // the SwitchGLU, e.g. "switch_mlp"
	Names   [][2]string // per-expert projection → stacked projection, in stacking order
	Parts   []string    // parameters stacked, in order
	// Optional skips a (projection, part) whose expert 0 is absent.
	Optional bool
}

// Apply stacks the experts of the block at prefix (e.g.
// "model.layers.3.mlp").
func (s *ExpertStack) Apply(ts Tensors, prefix string, experts int) error {
	for _, nm := range s.Names {
		for _, k := range s.Parts {
			if s.Optional && !ts.Has(prefix+"."+s.Experts+".0."+nm[0]+"."+k) {
				continue
			}
			srcs := make([]string, experts)
			for e := range srcs {
				srcs[e] = prefix + "." + s.Experts + "." + strconv.Itoa(e) + "." + nm[0] + "." + k
			}
			if err := ts.Stack(prefix+"."+s.Stacked+"."+nm[1]+"."+k, srcs); err != nil {
				return err
			}
		}
	}
	return nil
}

// LayerRange returns the layer indices 0..n-1.
func LayerRange(n int) []int {
	out := make([]int, max(n, 0))
	for i := range out {
		out[i] = i
	}
	return out
}
