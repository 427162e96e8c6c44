package model

import "slices"

// Kind is what kind of MLX leaf module holds a parameter. Only Linear,
// Embedding, SwitchLinear and MultiLinear have to_quantized, so only they
// are quantizable.
type Kind uint8

const (
	KindOther        Kind = iota // norms, activations, anything not quantizable
	KindLinear                   // nn.Linear: weight [out, in], bias [out]
	KindEmbedding                // nn.Embedding: weight [n, dims]
	KindSwitchLinear             // SwitchLinear: weight [E, out, in], bias [E, out]
	KindMultiLinear              // mlx-lm's MultiLinear (MLA): weight [heads, out, in], no bias
)

var kindNames = [...]string{KindOther: "other", KindLinear: "Linear", KindEmbedding: "Embedding", KindSwitchLinear: "SwitchLinear", KindMultiLinear: "MultiLinear"}

func (k Kind) String() string { return kindNames[k] }

func (k Kind) Quantizable() bool { return k != KindOther }

// Dequantizable reports whether mlx-lm's dequantize_model turns the
// quantized module back into a float one: every quantizable kind but
// MultiLinear, which -d leaves packed.
func (k Kind) Dequantizable() bool { return k.Quantizable() && k != KindMultiLinear }

type Param struct {
	Name  string // "weight", "bias"
	Shape []int
}

// Module is one leaf module of the MLX model: its path, kind and
// parameters in attribute order.
type Module struct {
	Path   string
	Kind   Kind
	Params []Param
	// NotLeaf marks arrays of a module that also has submodules: they are
	// parameters, but mlx-lm's get_total_parameters (leaf modules only)
	// does not count them.
	NotLeaf bool
}

func (m *Module) Param(name string) (Param, bool) {
	for _, p := range m.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

func JoinName(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Tree is the parameter tree of the MLX model mlx-lm would build from
// the config: leaf modules in module (construction) order, which is the
// order of tree_flatten(model.parameters()) and so of shard assignment and
// of per-layer quantization entries.
type Tree struct {
	Modules   []Module
	NumLayers int  // len(model.layers), for the mixed-precision recipes
	Generic   bool // built from the checkpoint's names and shapes, not the config
}

// RemoveModule drops the module at path (gemma3's sanitize pops lm_head).
func (m *Tree) RemoveModule(path string) {
	m.Modules = slices.DeleteFunc(m.Modules, func(s Module) bool { return s.Path == path })
}

// Builder appends leaf modules in construction order.
type Builder struct{ mods []Module }

// Tree returns the built tree with numLayers blocks.
func (b *Builder) Tree(numLayers int) *Tree { return &Tree{Modules: b.mods, NumLayers: numLayers} }

func (b *Builder) Linear(path string, in, out int, bias bool) {
	ps := []Param{{"weight", []int{out, in}}}
	if bias {
		ps = append(ps, Param{"bias", []int{out}})
	}
	b.mods = append(b.mods, Module{Path: path, Kind: KindLinear, Params: ps})
}

func (b *Builder) SwitchLinear(path string, in, out, experts int, bias bool) {
	ps := []Param{{"weight", []int{experts, out, in}}}
	if bias {
		ps = append(ps, Param{"bias", []int{experts, out}})
	}
	b.mods = append(b.mods, Module{Path: path, Kind: KindSwitchLinear, Params: ps})
}

// MultiLinear adds mlx-lm's MultiLinear(in, out, heads): one [out, in]
// matrix per head, quantizable like a SwitchLinear.
func (b *Builder) MultiLinear(path string, in, out, heads int) {
	b.mods = append(b.mods, Module{Path: path, Kind: KindMultiLinear, Params: []Param{{"weight", []int{heads, out, in}}}})
}

func (b *Builder) Embedding(path string, n, dims int) {
	b.mods = append(b.mods, Module{Path: path, Kind: KindEmbedding, Params: []Param{{"weight", []int{n, dims}}}})
}

func (b *Builder) Norm(path string, dims int) {
	b.mods = append(b.mods, Module{Path: path, Kind: KindOther, Params: []Param{{"weight", []int{dims}}}})
}

// LayerNorm adds nn.LayerNorm (weight, bias).
func (b *Builder) LayerNorm(path string, dims int) {
	b.mods = append(b.mods, Module{Path: path, Kind: KindOther, Params: []Param{{"weight", []int{dims}}, {"bias", []int{dims}}}})
}

// Params adds a module holding plain arrays (not quantizable), e.g. a
// router whose weight is not an nn.Linear.
func (b *Builder) Params(path string, params ...Param) {
	b.mods = append(b.mods, Module{Path: path, Kind: KindOther, Params: params})
}

// BlockParams adds arrays held by a module that also has submodules
// (MiniMax's block_sparse_moe.e_score_correction_bias): not a leaf
// module, so mlx-lm's parameter count skips them.
func (b *Builder) BlockParams(path string, params ...Param) {
	b.mods = append(b.mods, Module{Path: path, Kind: KindOther, Params: params, NotLeaf: true})
}

// Scalars adds a module of scalar (0-D) parameters, in order.
func (b *Builder) Scalars(path string, names ...string) {
	ps := make([]Param, len(names))
	for i, n := range names {
		ps[i] = Param{n, []int{}}
	}
	b.mods = append(b.mods, Module{Path: path, Kind: KindOther, Params: ps})
}

// SwitchGLU adds mlx-lm's SwitchGLU (gate_proj, up_proj, down_proj).
func (b *Builder) SwitchGLU(path string, dims, hidden, experts int) {
	b.SwitchGLUBias(path, dims, hidden, experts, false)
}

// SwitchGLUBias is SwitchGLU(..., bias=bias).
func (b *Builder) SwitchGLUBias(path string, dims, hidden, experts int, bias bool) {
	b.SwitchLinear(path+".gate_proj", dims, hidden, experts, bias)
	b.SwitchLinear(path+".up_proj", dims, hidden, experts, bias)
	b.SwitchLinear(path+".down_proj", hidden, dims, experts, bias)
}

// MLPGateUpDown adds an MLP whose attributes are gate, up, down.
func (b *Builder) MLPGateUpDown(path string, dims, hidden int, bias bool) {
	b.Linear(path+".gate_proj", dims, hidden, bias)
	b.Linear(path+".up_proj", dims, hidden, bias)
	b.Linear(path+".down_proj", hidden, dims, bias)
}

// MLP adds the usual gate/down/up MLP (in that attribute order).
func (b *Builder) MLP(path string, dims, hidden int, bias bool) {
	b.Linear(path+".gate_proj", dims, hidden, bias)
	b.Linear(path+".down_proj", hidden, dims, bias)
	b.Linear(path+".up_proj", dims, hidden, bias)
}

// Attention adds q/k/v/o projections.
func (b *Builder) Attention(path string, dims, heads, kvHeads, headDim int, qkvBias, oBias bool) {
	b.Linear(path+".q_proj", dims, heads*headDim, qkvBias)
	b.Linear(path+".k_proj", dims, kvHeads*headDim, qkvBias)
	b.Linear(path+".v_proj", dims, kvHeads*headDim, qkvBias)
	b.Linear(path+".o_proj", heads*headDim, dims, oBias)
}

// DepthwiseConv1d adds a depthwise nn.Conv1d (groups = channels): weight
// [channels, kernel, 1], bias [channels]. nn.quantize leaves it alone.
func (b *Builder) DepthwiseConv1d(path string, channels, kernel int, bias bool) {
	ps := []Param{{"weight", []int{channels, kernel, 1}}}
	if bias {
		ps = append(ps, Param{"bias", []int{channels}})
	}
	b.mods = append(b.mods, Module{Path: path, Kind: KindOther, Params: ps})
}
