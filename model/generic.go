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
	type mod struct {
		path   string
		params map[string][]int
		names  []string
	}
	mods := map[string]*mod{}
	var order []string
	for _, n := range ts.Names() {
		shape, _ := ts.Shape(n)
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
		m.params[param] = shape
		m.names = append(m.names, param)
	}
	sort.Slice(order, func(i, j int) bool { return naturalLess(order[i], order[j]) })
	spec := &Tree{Generic: true}
	maxLayer := -1
	for _, p := range order {
		m := mods[p]
		kind := KindOther
		if w, ok := m.params["weight"]; ok && len(w) == 2 {
			kind = KindLinear
			for _, n := range m.names {
				if n != "weight" && !(n == "bias" && len(m.params[n]) == 1) {
					kind = KindOther
				}
			}
		}
		// Parameters of a quantized checkpoint module: weight, scales,
		// biases, bias.
		if _, ok := m.params["scales"]; ok {
			kind = KindLinear
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
		ms := Module{Path: p, Kind: kind}
		for _, n := range names {
			ms.Params = append(ms.Params, Param{n, m.params[n]})
		}
		spec.Modules = append(spec.Modules, ms)
		for _, comp := range strings.Split(p, ".") {
			if v, err := strconv.Atoi(comp); err == nil && IsDigits(comp) {
				maxLayer = max(maxLayer, v)
				break
			}
		}
	}
	spec.NumLayers = maxLayer + 1
	return spec, nil
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
