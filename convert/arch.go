package convert

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// modKind is what kind of MLX leaf module holds a parameter. Only Linear,
// Embedding and SwitchLinear have to_quantized, so only they are
// quantizable.
type modKind uint8

const (
	kindOther        modKind = iota // norms, activations, anything not quantizable
	kindLinear                      // nn.Linear: weight [out, in], bias [out]
	kindEmbedding                   // nn.Embedding: weight [n, dims]
	kindSwitchLinear                // SwitchLinear: weight [E, out, in], bias [E, out]
)

var modKindNames = [...]string{kindOther: "other", kindLinear: "Linear", kindEmbedding: "Embedding", kindSwitchLinear: "SwitchLinear"}

func (k modKind) String() string { return modKindNames[k] }

func (k modKind) quantizable() bool { return k != kindOther }

type paramSpec struct {
	name  string // "weight", "bias"
	shape []int
}

// moduleSpec is one leaf module of the MLX model: its path, kind and
// parameters in attribute order.
type moduleSpec struct {
	path   string
	kind   modKind
	params []paramSpec
}

func (m *moduleSpec) param(name string) (paramSpec, bool) {
	for _, p := range m.params {
		if p.name == name {
			return p, true
		}
	}
	return paramSpec{}, false
}

func joinName(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// modelSpec is the parameter tree of the MLX model mlx-lm would build from
// the config: leaf modules in module (construction) order, which is the
// order of tree_flatten(model.parameters()) and so of shard assignment and
// of per-layer quantization entries.
type modelSpec struct {
	modules   []moduleSpec
	numLayers int  // len(model.layers), for the mixed-precision recipes
	generic   bool // built from the checkpoint's names and shapes, not the config
}

// removeModule drops the module at path (gemma3's sanitize pops lm_head).
func (m *modelSpec) removeModule(path string) {
	m.modules = slices.DeleteFunc(m.modules, func(s moduleSpec) bool { return s.path == path })
}

type specBuilder struct{ mods []moduleSpec }

func (b *specBuilder) linear(path string, in, out int, bias bool) {
	ps := []paramSpec{{"weight", []int{out, in}}}
	if bias {
		ps = append(ps, paramSpec{"bias", []int{out}})
	}
	b.mods = append(b.mods, moduleSpec{path, kindLinear, ps})
}

func (b *specBuilder) switchLinear(path string, in, out, experts int, bias bool) {
	ps := []paramSpec{{"weight", []int{experts, out, in}}}
	if bias {
		ps = append(ps, paramSpec{"bias", []int{experts, out}})
	}
	b.mods = append(b.mods, moduleSpec{path, kindSwitchLinear, ps})
}

func (b *specBuilder) embedding(path string, n, dims int) {
	b.mods = append(b.mods, moduleSpec{path, kindEmbedding, []paramSpec{{"weight", []int{n, dims}}}})
}

func (b *specBuilder) norm(path string, dims int) {
	b.mods = append(b.mods, moduleSpec{path, kindOther, []paramSpec{{"weight", []int{dims}}}})
}

// switchGLU adds mlx-lm's SwitchGLU (gate_proj, up_proj, down_proj).
func (b *specBuilder) switchGLU(path string, dims, hidden, experts int) {
	b.switchLinear(path+".gate_proj", dims, hidden, experts, false)
	b.switchLinear(path+".up_proj", dims, hidden, experts, false)
	b.switchLinear(path+".down_proj", hidden, dims, experts, false)
}

// mlp adds the usual gate/down/up MLP (in that attribute order).
func (b *specBuilder) mlp(path string, dims, hidden int, bias bool) {
	b.linear(path+".gate_proj", dims, hidden, bias)
	b.linear(path+".down_proj", hidden, dims, bias)
	b.linear(path+".up_proj", dims, hidden, bias)
}

// attention adds q/k/v/o projections.
func (b *specBuilder) attention(path string, dims, heads, kvHeads, headDim int, qkvBias, oBias bool) {
	b.linear(path+".q_proj", dims, heads*headDim, qkvBias)
	b.linear(path+".k_proj", dims, kvHeads*headDim, qkvBias)
	b.linear(path+".v_proj", dims, kvHeads*headDim, qkvBias)
	b.linear(path+".o_proj", heads*headDim, dims, oBias)
}

// quantPred is a model's own quant_predicate result for a module: nil means
// "True" (quantize with the global parameters).
type quantPred func(path string) *pyjson.Object

// archDef is one mlx-lm model module: how to build its parameter tree from
// the config, how its sanitize rewrites checkpoint names, and its
// per-model quantization predicate.
type archDef struct {
	name     string
	build    func(c config, ts *tensorSet) (*modelSpec, error)
	sanitize func(m *modelSpec, c config, ts *tensorSet) error // nil: identity
	pred     quantPred                                         // nil: none
}

// modelRemap is mlx-lm's MODEL_REMAPPING restricted to supported targets.
var modelRemap = map[string]string{
	"mistral":     "llama",
	"iquestcoder": "llama",
	"xverse":      "llama",
}

var archs = map[string]*archDef{}

func registerArch(a *archDef) { archs[a.name] = a }

// genericTypes are mlx-lm model types without a sanitize method, whose
// checkpoint names are the MLX names: converted by the generic
// architecture, which takes names and shapes from the checkpoint.
var genericTypes = []string{
	"cohere", "cohere2", "ernie4_5", "exaone", "exaone4", "glm4", "gpt_bigcode", "helium",
	"iquestloopcoder", "llama4_text", "minicpm3", "nanochat", "nemotron", "olmo", "olmo3",
	"openelm", "phi", "plamo", "qwen", "stablelm", "starcoder2", "telechat3",
}

// SupportedModelTypes returns every config.json model_type Run converts,
// sorted.
func SupportedModelTypes() []string {
	var out []string
	for n := range archs {
		out = append(out, n)
	}
	for n, to := range modelRemap {
		if archs[to] != nil {
			out = append(out, n)
		}
	}
	out = append(out, genericTypes...)
	sort.Strings(out)
	return slices.Compact(out)
}

// lookupArch returns the architecture of a config, or ErrUnsupported.
func lookupArch(cfg *pyjson.Object) (*archDef, error) {
	c := newConfig(cfg, "config.json")
	raw, ok := cfg.Get("model_type")
	mt, isStr := raw.(string)
	if !ok || !isStr {
		return nil, fmt.Errorf("%w: config.json has no model_type string", ErrConfig)
	}
	if mf, ok := c.value("model_file"); ok {
		return nil, fmt.Errorf("%w: config.json names a custom model file %s, which needs Python to run", ErrUnsupported, describe(mf))
	}
	name := mt
	if to, ok := modelRemap[mt]; ok {
		name = to
	}
	if a, ok := archs[name]; ok {
		return a, nil
	}
	if slices.Contains(genericTypes, mt) {
		return genericArch, nil
	}
	return nil, fmt.Errorf("%w: model type %q is not supported; supported types: %s",
		ErrUnsupported, mt, strings.Join(SupportedModelTypes(), ", "))
}

// needKeys checks that keys are present (mlx-lm's dataclass fields without
// a default; a missing one is a TypeError there).
func needKeys(c config, keys ...string) error {
	for _, k := range keys {
		if _, ok := c.obj.Get(k); !ok {
			return c.errf(k, "is missing (required by the model)")
		}
	}
	return nil
}

// maxLayers bounds layer counts read from a config.
const maxLayers = 1 << 16

// layerCount returns num_hidden_layers, checked against a sane bound.
func layerCount(c config) (int, error) {
	n, err := c.reqInt("num_hidden_layers")
	if err == nil && n > maxLayers {
		err = c.errf("num_hidden_layers", "is %d, too many", n)
	}
	return n, err
}

// dims reads the sizes every decoder config has.
type dims struct {
	hidden, inter, heads, vocab int
}

func readDims(c config) (d dims, err error) {
	if d.hidden, err = c.posInt("hidden_size"); err != nil {
		return
	}
	if d.inter, err = c.posInt("intermediate_size"); err != nil {
		return
	}
	if d.heads, err = c.posInt("num_attention_heads"); err != nil {
		return
	}
	d.vocab, err = c.posInt("vocab_size")
	return
}

// dropContaining removes names containing s.
func dropContaining(ts *tensorSet, s string) {
	ts.filter(func(n string) bool { return !strings.Contains(n, s) })
}

// ---- dense decoders: llama (and mistral, iquestcoder, xverse through the
// remap), qwen2, qwen3, gemma, gemma2 and phi3, one denseArch each. They
// share one builder: embed_tokens; per layer the attention (with q/k norms
// for qwen3), the MLP and the norms; the final norm; lm_head unless tied.

// headDimRule is how a dense decoder gets its attention head size.
type headDimRule uint8

const (
	headDimFromHidden headDimRule = iota // hidden_size / num_attention_heads; head_dim is not read
	headDimRequired                      // head_dim, a positive integer
	headDimOptional                      // head_dim, hidden_size / num_attention_heads when absent, null or 0 (falsy in Python)
)

// sanitizeStep is one step of a dense decoder's sanitize.
type sanitizeStep uint8

const (
	sanitizeInvFreq  sanitizeStep = iota // drop the self_attn.rotary_emb.inv_freq buffers
	sanitizeTiedHead                     // drop lm_head.weight when tie_word_embeddings holds
)

// denseArch is what differs between the dense decoders. The builder reads
// the config in field order: required keys, the sizes, the layer count,
// num_key_value_heads and head_dim, the bias flags, tie_word_embeddings,
// then check; the first failure is the error.
type denseArch struct {
	name     string
	required []string // ModelArgs fields without a default, in field order

	layerTypes   bool // a layer_types list overrides num_hidden_layers (one block per type)
	kvRequired   bool // num_key_value_heads must be a positive integer; else it defaults to the head count
	headDim      headDimRule
	headDimFirst bool // head_dim is read before num_key_value_heads (and its error wins)

	attnBias string // key of the q/k/v/o projections' bias flag (default false); "" for none
	qkvBias  bool   // q/k/v projections always have a bias
	mlpBias  string // key of the MLP's bias flag (default false); "" for none

	tieDefault bool // tie_word_embeddings when absent
	alwaysTied bool // tie_word_embeddings is not read and there is never an lm_head

	fused  bool     // self_attn.qkv_proj and mlp.gate_up_proj, without biases (phi3)
	qkNorm bool     // self_attn.q_norm and k_norm over head_dim
	norms  []string // per-layer norms, after the MLP

	check    func(c config) error // a last config check; nil for none
	sanitize []sanitizeStep       // in order; nil: the model has no sanitize
}

var twoNorms = []string{"input_layernorm", "post_attention_layernorm"}

var denseArchs = []*denseArch{{
	name:       "llama",
	required:   []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
	layerTypes: true, headDim: headDimOptional, headDimFirst: true,
	attnBias: "attention_bias", mlpBias: "mlp_bias", tieDefault: true,
	norms: twoNorms, sanitize: []sanitizeStep{sanitizeInvFreq, sanitizeTiedHead},
}, {
	name: "qwen2",
	required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
		"num_key_value_heads"},
	kvRequired: true, headDim: headDimFromHidden, qkvBias: true, tieDefault: true,
	norms: twoNorms, sanitize: []sanitizeStep{sanitizeTiedHead, sanitizeInvFreq},
}, {
	name: "qwen3",
	required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size",
		"num_key_value_heads", "max_position_embeddings", "head_dim", "tie_word_embeddings"},
	kvRequired: true, headDim: headDimRequired, qkNorm: true,
	norms: twoNorms, check: checkRopeTheta, sanitize: []sanitizeStep{sanitizeTiedHead},
}, {
	name: "gemma", // no sanitize, no lm_head: the embedding is tied
	required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "head_dim",
		"rms_norm_eps", "vocab_size", "num_key_value_heads"},
	kvRequired: true, headDim: headDimRequired, alwaysTied: true, norms: twoNorms,
}, {
	name: "gemma2",
	required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "head_dim",
		"rms_norm_eps", "vocab_size", "num_key_value_heads"},
	kvRequired: true, headDim: headDimRequired, alwaysTied: true,
	norms: []string{"input_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm", "post_attention_layernorm"},
}, {
	name:     "phi3", // no sanitize
	required: []string{"hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "rms_norm_eps", "vocab_size"},
	headDim:  headDimFromHidden, fused: true, norms: twoNorms,
}}

func init() {
	for _, a := range denseArchs {
		def := &archDef{name: a.name, build: a.build}
		if a.sanitize != nil {
			def.sanitize = a.sanitizeTensors
		}
		registerArch(def)
	}
}

func (a *denseArch) build(c config, _ *tensorSet) (*modelSpec, error) {
	if err := needKeys(c, a.required...); err != nil {
		return nil, err
	}
	d, err := readDims(c)
	if err != nil {
		return nil, err
	}
	layers, err := a.layerCount(c)
	if err != nil {
		return nil, err
	}
	kv, kvErr := c.intOr("num_key_value_heads", d.heads)
	if a.kvRequired {
		kv, kvErr = c.posInt("num_key_value_heads")
	}
	headDim, hdErr := a.readHeadDim(c, d)
	err = cmp.Or(kvErr, hdErr)
	if a.headDimFirst {
		err = cmp.Or(hdErr, kvErr)
	}
	if err != nil {
		return nil, err
	}
	attnBias, err := biasFlag(c, a.attnBias)
	if err != nil {
		return nil, err
	}
	mlpBias, err := biasFlag(c, a.mlpBias)
	if err != nil {
		return nil, err
	}
	tie := a.alwaysTied
	if !a.alwaysTied {
		if tie, err = c.boolOr("tie_word_embeddings", a.tieDefault); err != nil {
			return nil, err
		}
	}
	if a.check != nil {
		if err := a.check(c); err != nil {
			return nil, err
		}
	}
	var b specBuilder
	b.embedding("model.embed_tokens", d.vocab, d.hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		if a.fused {
			b.linear(p+".self_attn.qkv_proj", d.hidden, d.heads*headDim+2*kv*headDim, false)
			b.linear(p+".self_attn.o_proj", d.heads*headDim, d.hidden, false)
			b.linear(p+".mlp.gate_up_proj", d.hidden, 2*d.inter, false)
			b.linear(p+".mlp.down_proj", d.inter, d.hidden, false)
		} else {
			b.attention(p+".self_attn", d.hidden, d.heads, kv, headDim, a.qkvBias || attnBias, attnBias)
			if a.qkNorm {
				b.norm(p+".self_attn.q_norm", headDim)
				b.norm(p+".self_attn.k_norm", headDim)
			}
			b.mlp(p+".mlp", d.hidden, d.inter, mlpBias)
		}
		for _, n := range a.norms {
			b.norm(p+"."+n, d.hidden)
		}
	}
	b.norm("model.norm", d.hidden)
	if !tie {
		b.linear("lm_head", d.hidden, d.vocab, false)
	}
	return &modelSpec{modules: b.mods, numLayers: layers}, nil
}

// layerCount returns num_hidden_layers, or the length of layer_types for
// a model that builds one block per layer type.
func (a *denseArch) layerCount(c config) (int, error) {
	layers, err := layerCount(c)
	if err != nil || !a.layerTypes {
		return layers, err
	}
	n, ok, err := c.listLen("layer_types")
	if err != nil || !ok {
		return layers, err
	}
	if n > maxLayers {
		return 0, c.errf("layer_types", "has %d entries, too many", n)
	}
	return n, nil
}

func (a *denseArch) readHeadDim(c config, d dims) (int, error) {
	switch a.headDim {
	case headDimRequired:
		return c.posInt("head_dim")
	case headDimOptional:
		n, err := c.intOr("head_dim", d.hidden/d.heads)
		if n == 0 {
			n = d.hidden / d.heads // head_dim=0 is falsy in Python
		}
		return n, err
	}
	return d.hidden / d.heads, nil
}

// biasFlag reads the bias flag at key (default false); no key is false.
func biasFlag(c config, key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	return c.boolOr(key, false)
}

// checkRopeTheta is qwen3's: rope_theta must be set, at the top level or
// in rope_parameters.
func checkRopeTheta(c config) error {
	if _, ok := c.value("rope_theta"); !ok {
		rp := c.object("rope_parameters")
		if rp == nil || !newConfig(rp, "").has("rope_theta") {
			return c.errf("rope_theta", "is missing from the model config")
		}
	}
	return nil
}

func (a *denseArch) sanitizeTensors(_ *modelSpec, c config, ts *tensorSet) error {
	for _, s := range a.sanitize {
		switch s {
		case sanitizeInvFreq:
			dropContaining(ts, "self_attn.rotary_emb.inv_freq")
		case sanitizeTiedHead:
			popTiedHead(c, ts, a.tieDefault)
		}
	}
	return nil
}

// popTiedHead drops lm_head.weight when tie_word_embeddings (default def)
// holds: the embedding is the output head.
func popTiedHead(c config, ts *tensorSet, def bool) {
	if tie, _ := c.boolOr("tie_word_embeddings", def); tie {
		ts.pop("lm_head.weight")
	}
}

// ---- gemma3_text, and gemma3 (the VLM wrapper: vision tower dropped,
// language model under "language_model.")

func init() {
	registerArch(&archDef{name: "gemma3_text", build: func(c config, _ *tensorSet) (*modelSpec, error) {
		return buildGemma3Text(c, "")
	}, sanitize: func(m *modelSpec, c config, ts *tensorSet) error {
		if !ts.has("lm_head.weight") {
			m.removeModule("lm_head") // tied: the embedding is the output head
		}
		return nil
	}})
	registerArch(&archDef{name: "gemma3", build: buildGemma3, sanitize: sanitizeGemma3})
}

func buildGemma3Text(c config, prefix string) (*modelSpec, error) {
	if err := needKeys(c, "model_type"); err != nil {
		return nil, err
	}
	var d dims
	var err error
	ints := []struct {
		key string
		dst *int
		def int
	}{
		{"hidden_size", &d.hidden, 1152}, {"intermediate_size", &d.inter, 6912},
		{"num_attention_heads", &d.heads, 4}, {"vocab_size", &d.vocab, 262144},
	}
	for _, f := range ints {
		if *f.dst, err = c.intOr(f.key, f.def); err != nil {
			return nil, err
		}
	}
	layers, err := c.intOr("num_hidden_layers", 26)
	if err != nil {
		return nil, err
	}
	headDim, err := c.intOr("head_dim", 256)
	if err != nil {
		return nil, err
	}
	kv, err := c.intOr("num_key_value_heads", 1)
	if err != nil {
		return nil, err
	}
	var b specBuilder
	b.embedding(prefix+"model.embed_tokens", d.vocab, d.hidden)
	for l := 0; l < layers; l++ {
		p := prefix + "model.layers." + strconv.Itoa(l)
		b.attention(p+".self_attn", d.hidden, d.heads, kv, headDim, false, false)
		b.norm(p+".self_attn.q_norm", headDim)
		b.norm(p+".self_attn.k_norm", headDim)
		b.mlp(p+".mlp", d.hidden, d.inter, false)
		b.norm(p+".input_layernorm", d.hidden)
		b.norm(p+".post_attention_layernorm", d.hidden)
		b.norm(p+".pre_feedforward_layernorm", d.hidden)
		b.norm(p+".post_feedforward_layernorm", d.hidden)
	}
	b.norm(prefix+"model.norm", d.hidden)
	b.linear(prefix+"lm_head", d.hidden, d.vocab, false)
	return &modelSpec{modules: b.mods, numLayers: layers}, nil
}

// gemma3TextConfig returns the text_config as gemma3's ModelArgs rewrites
// it: vocab_size from the top level (default 262208), head counts
// defaulted to 8 and 4. The rewrite happens in place, as in mlx-lm, whose
// ModelArgs shares the dict with the config it saves.
func gemma3TextConfig(c config) (config, error) {
	if err := needKeys(c, "text_config"); err != nil {
		return config{}, err
	}
	tc := c.object("text_config")
	if tc == nil {
		return config{}, c.errf("text_config", "is not an object")
	}
	vocab, err := c.intOr("vocab_size", 262208)
	if err != nil {
		return config{}, err
	}
	tc.Set("vocab_size", pyjson.Int(int64(vocab)))
	if _, ok := tc.Get("num_attention_heads"); !ok {
		tc.Set("num_attention_heads", pyjson.Int(8))
	}
	if _, ok := tc.Get("num_key_value_heads"); !ok {
		tc.Set("num_key_value_heads", pyjson.Int(4))
	}
	return newConfig(tc, "config.json text_config"), nil
}

func buildGemma3(c config, _ *tensorSet) (*modelSpec, error) {
	tc, err := gemma3TextConfig(c)
	if err != nil {
		return nil, err
	}
	return buildGemma3Text(tc, "language_model.")
}

func sanitizeGemma3(m *modelSpec, c config, ts *tensorSet) error {
	ts.filter(func(n string) bool {
		top, _, _ := strings.Cut(n, ".")
		return top != "vision_tower" && top != "multi_modal_projector"
	})
	if len(ts.withPrefix("language_model.")) == 0 {
		return fmt.Errorf("%w: gemma3 checkpoint has no language_model.* tensors (mlx-lm reads the language_model.model.* layout)", ErrWeights)
	}
	if !ts.has("language_model.lm_head.weight") {
		m.removeModule("language_model.lm_head")
	}
	return nil
}

// ---- mixtral

func init() {
	registerArch(&archDef{name: "mixtral", build: buildMixtral, sanitize: sanitizeMixtral})
}

func buildMixtral(c config, _ *tensorSet) (*modelSpec, error) {
	var d dims
	var err error
	ints := []struct {
		key string
		dst *int
		def int
	}{
		{"vocab_size", &d.vocab, 32000}, {"hidden_size", &d.hidden, 4096},
		{"intermediate_size", &d.inter, 14336}, {"num_attention_heads", &d.heads, 32},
	}
	for _, f := range ints {
		if *f.dst, err = c.intOr(f.key, f.def); err != nil {
			return nil, err
		}
	}
	if d.heads == 0 {
		return nil, c.errf("num_attention_heads", "is 0")
	}
	layers, err := c.intOr("num_hidden_layers", 32)
	if err != nil {
		return nil, err
	}
	kv := 8
	if _, present := c.obj.Get("num_key_value_heads"); present {
		if kv, err = c.intOr("num_key_value_heads", d.heads); err != nil { // null: the head count
			return nil, err
		}
	}
	experts, err := c.intOr("num_local_experts", 8)
	if err != nil {
		return nil, err
	}
	tie, err := c.boolOr("tie_word_embeddings", false)
	if err != nil {
		return nil, err
	}
	headDim := d.hidden / d.heads
	var b specBuilder
	b.embedding("model.embed_tokens", d.vocab, d.hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.attention(p+".self_attn", d.hidden, d.heads, kv, headDim, false, false)
		b.linear(p+".block_sparse_moe.gate", d.hidden, experts, false)
		b.switchGLU(p+".block_sparse_moe.switch_mlp", d.hidden, d.inter, experts)
		b.norm(p+".input_layernorm", d.hidden)
		b.norm(p+".post_attention_layernorm", d.hidden)
	}
	b.norm("model.norm", d.hidden)
	if !tie {
		b.linear("lm_head", d.hidden, d.vocab, false)
	}
	return &modelSpec{modules: b.mods, numLayers: layers}, nil
}

var quantParts = []string{"weight", "scales", "biases"}

// checkExperts bounds the expert and layer counts of a config by the
// checkpoint: a checkpoint cannot hold more experts than tensors.
func checkExperts(experts, layers int, ts *tensorSet) error {
	if experts > ts.len() || layers > maxLayers {
		return fmt.Errorf("%w: %d experts in %d layers do not fit a checkpoint of %d tensors", ErrWeights, experts, layers, ts.len())
	}
	return nil
}

func sanitizeMixtral(m *modelSpec, c config, ts *tensorSet) error {
	popTiedHead(c, ts, false)
	if !ts.has("model.layers.0.block_sparse_moe.experts.0.w1.weight") {
		return nil
	}
	layers, _ := c.intOr("num_hidden_layers", 32)
	experts, _ := c.intOr("num_local_experts", 8)
	if err := checkExperts(experts, layers, ts); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l) + ".block_sparse_moe"
		for _, nm := range [][2]string{{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}} {
			for _, k := range quantParts {
				if !ts.has(p + ".experts.0." + nm[0] + "." + k) {
					continue
				}
				srcs := make([]string, experts)
				for e := range srcs {
					srcs[e] = p + ".experts." + strconv.Itoa(e) + "." + nm[0] + "." + k
				}
				if err := ts.stack(p+".switch_mlp."+nm[1]+"."+k, srcs); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ---- qwen2_moe

func init() {
	registerArch(&archDef{name: "qwen2_moe", build: buildQwen2MoE, sanitize: sanitizeQwen2MoE})
}

func buildQwen2MoE(c config, _ *tensorSet) (*modelSpec, error) {
	if err := needKeys(c, "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "num_experts_per_tok",
		"num_experts", "moe_intermediate_size", "shared_expert_intermediate_size", "rms_norm_eps", "vocab_size"); err != nil {
		return nil, err
	}
	d, err := readDims(c)
	if err != nil {
		return nil, err
	}
	layers, err := layerCount(c)
	if err != nil {
		return nil, err
	}
	kv, err := c.intOr("num_key_value_heads", d.heads)
	if err != nil {
		return nil, err
	}
	experts, err := c.posInt("num_experts")
	if err != nil {
		return nil, err
	}
	moeInter, err := c.posInt("moe_intermediate_size")
	if err != nil {
		return nil, err
	}
	sharedInter, err := c.posInt("shared_expert_intermediate_size")
	if err != nil {
		return nil, err
	}
	headDim := d.hidden / d.heads
	var b specBuilder
	b.embedding("model.embed_tokens", d.vocab, d.hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.attention(p+".self_attn", d.hidden, d.heads, kv, headDim, true, false)
		b.linear(p+".mlp.gate", d.hidden, experts, false)
		b.switchGLU(p+".mlp.switch_mlp", d.hidden, moeInter, experts)
		b.mlp(p+".mlp.shared_expert", d.hidden, sharedInter, false)
		b.linear(p+".mlp.shared_expert_gate", d.hidden, 1, false)
		b.norm(p+".input_layernorm", d.hidden)
		b.norm(p+".post_attention_layernorm", d.hidden)
	}
	b.norm("model.norm", d.hidden)
	b.linear("lm_head", d.hidden, d.vocab, false) // qwen2_moe always has one
	return &modelSpec{modules: b.mods, numLayers: layers}, nil
}

func sanitizeQwen2MoE(m *modelSpec, c config, ts *tensorSet) error {
	if !ts.has("model.layers.0.mlp.experts.0.up_proj.weight") {
		return nil
	}
	layers, _ := c.intOr("num_hidden_layers", 0)
	experts, _ := c.intOr("num_experts", 0)
	if err := checkExperts(experts, layers, ts); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l) + ".mlp"
		for _, n := range []string{"up_proj", "down_proj", "gate_proj"} {
			for _, k := range quantParts {
				if !ts.has(p + ".experts.0." + n + "." + k) {
					continue
				}
				srcs := make([]string, experts)
				for e := range srcs {
					srcs[e] = p + ".experts." + strconv.Itoa(e) + "." + n + "." + k
				}
				if err := ts.stack(p+".switch_mlp."+n+"."+k, srcs); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ---- qwen3_moe

func init() {
	registerArch(&archDef{name: "qwen3_moe", build: buildQwen3MoE, sanitize: sanitizeQwen3MoE, pred: routerPred("mlp.gate")})
}

// routerPred is the 8-bit router override several MoE models define:
// {"group_size": 64, "bits": 8} (no mode, so affine) for paths ending in
// suffix.
func routerPred(suffix string) quantPred {
	return func(path string) *pyjson.Object {
		if !strings.HasSuffix(path, suffix) {
			return nil
		}
		o := pyjson.NewObject()
		o.Set("group_size", pyjson.Int(64))
		o.Set("bits", pyjson.Int(8))
		return o
	}
}

func buildQwen3MoE(c config, _ *tensorSet) (*modelSpec, error) {
	if err := needKeys(c, "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "num_experts",
		"num_experts_per_tok", "decoder_sparse_step", "mlp_only_layers", "moe_intermediate_size", "rms_norm_eps",
		"vocab_size", "num_key_value_heads", "head_dim", "rope_theta", "tie_word_embeddings",
		"max_position_embeddings", "norm_topk_prob"); err != nil {
		return nil, err
	}
	d, err := readDims(c)
	if err != nil {
		return nil, err
	}
	layers, err := layerCount(c)
	if err != nil {
		return nil, err
	}
	kv, err := c.posInt("num_key_value_heads")
	if err != nil {
		return nil, err
	}
	headDim, err := c.posInt("head_dim")
	if err != nil {
		return nil, err
	}
	experts, err := c.reqInt("num_experts")
	if err != nil {
		return nil, err
	}
	step, err := c.reqInt("decoder_sparse_step")
	if err != nil {
		return nil, err
	}
	mlpOnly, err := c.intList("mlp_only_layers")
	if err != nil {
		return nil, err
	}
	moeInter, err := c.posInt("moe_intermediate_size")
	if err != nil {
		return nil, err
	}
	tie, err := c.boolOr("tie_word_embeddings", false)
	if err != nil {
		return nil, err
	}
	if experts > 0 && step == 0 {
		return nil, c.errf("decoder_sparse_step", "is 0")
	}
	var b specBuilder
	b.embedding("model.embed_tokens", d.vocab, d.hidden)
	for l := 0; l < layers; l++ {
		p := "model.layers." + strconv.Itoa(l)
		b.attention(p+".self_attn", d.hidden, d.heads, kv, headDim, false, false)
		b.norm(p+".self_attn.q_norm", headDim)
		b.norm(p+".self_attn.k_norm", headDim)
		b.norm(p+".input_layernorm", d.hidden)
		b.norm(p+".post_attention_layernorm", d.hidden)
		if !slices.Contains(mlpOnly, l) && experts > 0 && (l+1)%step == 0 {
			b.linear(p+".mlp.gate", d.hidden, experts, false)
			b.switchGLU(p+".mlp.switch_mlp", d.hidden, moeInter, experts)
		} else {
			b.mlp(p+".mlp", d.hidden, d.inter, false)
		}
	}
	b.norm("model.norm", d.hidden)
	if !tie {
		b.linear("lm_head", d.hidden, d.vocab, false)
	}
	return &modelSpec{modules: b.mods, numLayers: layers}, nil
}

func sanitizeQwen3MoE(m *modelSpec, c config, ts *tensorSet) error {
	popTiedHead(c, ts, false)
	var moeLayers []int
	for _, n := range ts.names() {
		if !strings.HasPrefix(n, "model.layers.") || !strings.HasSuffix(n, ".mlp.experts.0.up_proj.weight") {
			continue
		}
		l, err := strconv.Atoi(strings.Split(n, ".")[2])
		if err != nil {
			return fmt.Errorf("%w: tensor %q: layer index is not a number", ErrWeights, n)
		}
		moeLayers = append(moeLayers, l)
	}
	slices.Sort(moeLayers)
	experts, _ := c.intOr("num_experts", 0)
	if err := checkExperts(experts, 0, ts); err != nil {
		return err
	}
	for _, l := range moeLayers {
		p := "model.layers." + strconv.Itoa(l) + ".mlp"
		for _, n := range []string{"up_proj", "down_proj", "gate_proj"} {
			srcs := make([]string, experts)
			for e := range srcs {
				srcs[e] = p + ".experts." + strconv.Itoa(e) + "." + n + ".weight"
			}
			if err := ts.stack(p+".switch_mlp."+n+".weight", srcs); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- generic: model types whose mlx-lm sanitize is the identity. The
// parameter tree is read off the checkpoint: modules are the names minus
// their last component, in natural order (numbers numerically); a module
// whose "weight" is 2-D and whose other parameters are at most a 1-D
// "bias" counts as a Linear/Embedding and is quantizable.

var genericArch = &archDef{name: "generic", build: buildGeneric}

func buildGeneric(c config, ts *tensorSet) (*modelSpec, error) {
	type mod struct {
		path   string
		params map[string][]int
		names  []string
	}
	mods := map[string]*mod{}
	var order []string
	for _, n := range ts.names() {
		in, _ := ts.get(n)
		path, param := n, n
		if i := strings.LastIndexByte(n, '.'); i >= 0 {
			path, param = n[:i], n[i+1:]
		} else {
			path = ""
		}
		m := mods[path]
		if m == nil {
			m = &mod{path: path, params: map[string][]int{}}
			mods[path] = m
			order = append(order, path)
		}
		m.params[param] = in.Shape
		m.names = append(m.names, param)
	}
	sort.Slice(order, func(i, j int) bool { return naturalLess(order[i], order[j]) })
	spec := &modelSpec{generic: true}
	maxLayer := -1
	for _, p := range order {
		m := mods[p]
		kind := kindOther
		if w, ok := m.params["weight"]; ok && len(w) == 2 {
			kind = kindLinear
			for _, n := range m.names {
				if n != "weight" && !(n == "bias" && len(m.params[n]) == 1) {
					kind = kindOther
				}
			}
		}
		// Parameters of a quantized checkpoint module: weight, scales,
		// biases, bias.
		if _, ok := m.params["scales"]; ok {
			kind = kindLinear
		}
		names := slices.Clone(m.names)
		rank := map[string]int{"weight": 0, "scales": 1, "biases": 2, "bias": 3}
		sort.SliceStable(names, func(i, j int) bool {
			ri, oki := rank[names[i]]
			rj, okj := rank[names[j]]
			switch {
			case oki && okj:
				return ri < rj
			case oki != okj:
				return oki
			}
			return names[i] < names[j]
		})
		ms := moduleSpec{path: p, kind: kind}
		for _, n := range names {
			ms.params = append(ms.params, paramSpec{n, m.params[n]})
		}
		spec.modules = append(spec.modules, ms)
		for _, comp := range strings.Split(p, ".") {
			if v, err := strconv.Atoi(comp); err == nil && isDigits(comp) {
				maxLayer = max(maxLayer, v)
				break
			}
		}
	}
	spec.numLayers = maxLayer + 1
	return spec, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// genericRank orders well-known module names the way mlx-lm's model
// files construct them (embedding, layers, final norm, head; attention
// before MLP before the norms; q, k, v, o; gate, down, up). Other names
// rank 4 and sort by name.
var genericRank = map[string]int{
	"embed_tokens": 0, "wte": 0, "tok_embeddings": 0, "word_embeddings": 0,
	"layers": 1, "h": 1, "blocks": 1,
	"self_attn": 0, "attn": 0, "attention": 0,
	"q_proj": 0, "k_proj": 1, "v_proj": 2, "o_proj": 3,
	"mlp": 1, "feed_forward": 1,
	"gate_proj": 0, "down_proj": 1, "up_proj": 2,
	"norm": 5, "ln_f": 5, "final_layernorm": 5,
	"lm_head": 9,
}

func rankOf(c string) int {
	if r, ok := genericRank[c]; ok {
		return r
	}
	return 4
}

// naturalLess orders dotted module paths component by component: numeric
// components numerically (and first), then by genericRank, then by name.
func naturalLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := as[i], bs[i]
		if x == y {
			continue
		}
		xd, yd := isDigits(x), isDigits(y)
		switch {
		case xd && yd:
			if len(x) != len(y) {
				return len(x) < len(y)
			}
			return x < y
		case xd != yd:
			return xd
		}
		if rx, ry := rankOf(x), rankOf(y); rx != ry {
			return rx < ry
		}
		return x < y
	}
	return len(as) < len(bs)
}
