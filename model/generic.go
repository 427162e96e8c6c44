package model

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// BuildFromCheckpoint is the tree of a model whose mlx-lm sanitize is the
// identity, read off the checkpoint: modules are the names minus their last
// component, in natural order (numbers numerically); a module whose
// "weight" is 2-D and whose other parameters are at most a 1-D "bias"
// counts as a Linear/Embedding and is quantizable.
func BuildFromCheckpoint(_ Config, ts Tensors) (*Tree, error) {
	return buildRanked(ts, rankOf)
}

// BuildFromCheckpointRanked is BuildFromCheckpoint with some module names
// ranked otherwise than genericRank: for mlx-lm model files that construct
// their modules in another order (cohere: gate, up, down). The order is the
// order of the config.json "quantization" entries a recipe writes.
func BuildFromCheckpointRanked(ranks map[string]int) func(Config, Tensors) (*Tree, error) {
	rank := func(c string) int {
		if r, ok := ranks[c]; ok {
			return r
		}
		return rankOf(c)
	}
	return func(_ Config, ts Tensors) (*Tree, error) { return buildRanked(ts, rank) }
}

func buildRanked(ts Tensors, rank func(string) int) (*Tree, error) {
	mods, order := checkpointModules(ts)
	sort.Slice(order, func(i, j int) bool { return naturalLess(order[i], order[j], rank) })
	spec := &Tree{Generic: true}
	maxLayer := -1
	for _, p := range order {
		m := mods[p]
		spec.Modules = append(spec.Modules, Module{Path: p, Kind: m.kind(), Params: m.sortedParams()})
		if v, ok := layerIndex(p); ok {
			maxLayer = max(maxLayer, v)
		}
	}
	spec.NumLayers = maxLayer + 1
	return spec, nil
}

// checkpointModule is one module of a checkpoint: the parameter shapes by
// name and the names in checkpoint order.
type checkpointModule struct {
	params map[string][]int
	names  []string
}

// checkpointModules groups the tensors by module path (the name minus its
// last component), returning the paths in first-seen order.
func checkpointModules(ts Tensors) (map[string]*checkpointModule, []string) {
	mods := map[string]*checkpointModule{}
	var order []string
	for _, n := range ts.Names() {
		shape, _ := ts.Shape(n)
		path, param := "", n
		if i := strings.LastIndexByte(n, '.'); i >= 0 {
			path, param = n[:i], n[i+1:]
		}
		m := mods[path]
		if m == nil {
			m = &checkpointModule{params: map[string][]int{}}
			mods[path] = m
			order = append(order, path)
		}
		m.params[param] = shape
		m.names = append(m.names, param)
	}
	return mods, order
}

// kind is KindLinear for a 2-D weight with at most a 1-D bias, or for a
// quantized checkpoint module (weight, scales, biases, bias), else
// KindOther.
func (m *checkpointModule) kind() Kind {
	if _, ok := m.params["scales"]; ok {
		return KindLinear
	}
	if w, ok := m.params["weight"]; !ok || len(w) != 2 {
		return KindOther
	}
	for _, n := range m.names {
		if n != "weight" && !(n == "bias" && len(m.params[n]) == 1) {
			return KindOther
		}
	}
	return KindLinear
}

// paramRank orders a module's parameters: weight, scales, biases, bias,
// then the others by name.
var paramRank = map[string]int{"weight": 0, "scales": 1, "biases": 2, "bias": 3}

// sortedParams returns the parameters in paramRank order.
func (m *checkpointModule) sortedParams() []Param {
	names := slices.Clone(m.names)
	sort.SliceStable(names, func(i, j int) bool {
		ri, oki := paramRank[names[i]]
		rj, okj := paramRank[names[j]]
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return names[i] < names[j]
	})
	var params []Param
	for _, n := range names {
		params = append(params, Param{n, m.params[n]})
	}
	return params
}

// layerIndex returns the first all-digit component of a module path.
func layerIndex(path string) (int, bool) {
	for _, comp := range strings.Split(path, ".") {
		if v, err := strconv.Atoi(comp); err == nil && IsDigits(comp) {
			return v, true
		}
	}
	return 0, false
}

// IsDigits reports whether s is a non-empty run of ASCII digits.
func IsDigits(s string) bool {
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
// before MLP before the norms; q, k, v, o; gate (or fused gate_up), down,
// up). Other names
// rank 4 and sort by name.
var genericRank = map[string]int{
	"embed_tokens": 0, "wte": 0, "tok_embeddings": 0, "word_embeddings": 0,
	"layers": 1, "h": 1, "blocks": 1,
	"self_attn": 0, "attn": 0, "attention": 0,
	"q_proj": 0, "k_proj": 1, "v_proj": 2, "o_proj": 3,
	"mlp": 1, "feed_forward": 1,
	"gate_proj": 0, "gate_up_proj": 0, "down_proj": 1, "up_proj": 2,
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
func naturalLess(a, b string, rankOf func(string) int) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := as[i], bs[i]
		if x == y {
			continue
		}
		xd, yd := IsDigits(x), IsDigits(y)
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
