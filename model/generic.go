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
	mods, order := checkpointModules(ts)
	sort.Slice(order, func(i, j int) bool { return naturalLess(order[i], order[j]) })
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

// CheckpointOrder is BuildFromCheckpoint with the modules in mlx-lm's
// attribute order, the order nn.quantize visits them (and so the order of
// a mixed recipe's per-module quantization entries), which a checkpoint's
// sorted names do not give: top lists the paths outside the blocks, with
// layers standing for every "layers.N" block (its position among them);
// layer lists the block-relative paths. Paths in neither come after the
// listed ones of their level, in natural order.
func CheckpointOrder(top, layer []string, layers string) func(Config, Tensors) (*Tree, error) {
	return func(c Config, ts Tensors) (*Tree, error) {
		t, err := BuildFromCheckpoint(c, ts)
		if err != nil {
			return nil, err
		}
		key := func(p string) (int, int, int) {
			if rest, ok := strings.CutPrefix(p, layers+"."); ok {
				num, sub, _ := strings.Cut(rest, ".")
				n, _ := strconv.Atoi(num)
				return orderRank(top, layers), n, orderRank(layer, sub)
			}
			return orderRank(top, p), 0, 0
		}
		slices.SortStableFunc(t.Modules, func(a, b Module) int {
			a0, a1, a2 := key(a.Path)
			b0, b1, b2 := key(b.Path)
			for _, d := range []int{a0 - b0, a1 - b1, a2 - b2} {
				if d != 0 {
					return d
				}
			}
			return 0
		})
		return t, nil
	}
}

// orderRank is p's index in list, len(list) when absent.
func orderRank(list []string, p string) int {
	if i := slices.Index(list, p); i >= 0 {
		return i
	}
	return len(list)
}
