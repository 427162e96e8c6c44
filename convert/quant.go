package convert

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
)

// Rule is one per-module quantization rule (--quant-rule PATTERN=SPEC).
// Pattern is a regular expression (RE2 syntax) searched for in the module
// path, e.g. "model.layers.3.mlp.down_proj" for the tensor
// "model.layers.3.mlp.down_proj.weight". The first matching rule decides.
//
// SPEC is one of:
//
//	skip                   do not quantize the module
//	float16|bfloat16|float32  do not quantize; store its float parameters in that dtype
//	BITS                   quantize with BITS, the global group size and mode
//	BITS/GROUP             ... and that group size
//	BITS/GROUP/MODE        ... and that mode (affine, mxfp4, nvfp4, mxfp8)
//
// A quantizing rule only affects quantizable modules (Linear, Embedding,
// SwitchLinear); a module whose last dimension is not a multiple of the
// rule's group size stays unquantized.
type Rule struct {
	Text    string // the rule as given
	Pattern *regexp.Regexp
	Skip    bool
	DType   mlx.DType // valid for a dtype rule
	Bits    int       // quantizing rule; 0 for skip and dtype rules
	Group   int       // 0: the global group size
	Mode    string    // "": the global mode
}

// String returns the rule as given.
func (r Rule) String() string { return r.Text }

// ParseRule parses "PATTERN=SPEC".
func ParseRule(s string) (Rule, error) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 {
		return Rule{}, fmt.Errorf("%w: quant rule %q: want PATTERN=SPEC", ErrOptions, s)
	}
	pat, spec := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	re, err := regexp.Compile(pat)
	if err != nil {
		return Rule{}, fmt.Errorf("%w: quant rule %q: %v", ErrOptions, s, err)
	}
	r := Rule{Text: s, Pattern: re}
	switch spec {
	case "skip":
		r.Skip = true
		return r, nil
	case "float16", "bfloat16", "float32":
		r.DType, _ = mlx.ParseDType(spec)
		return r, nil
	}
	parts := strings.Split(spec, "/")
	if len(parts) > 3 {
		return Rule{}, fmt.Errorf("%w: quant rule %q: SPEC %q has too many parts (want BITS[/GROUP[/MODE]])", ErrOptions, s, spec)
	}
	if r.Bits, err = strconv.Atoi(parts[0]); err != nil || r.Bits <= 0 {
		return Rule{}, fmt.Errorf("%w: quant rule %q: SPEC %q: want skip, float16, bfloat16, float32 or BITS[/GROUP[/MODE]]", ErrOptions, s, spec)
	}
	if len(parts) > 1 {
		if r.Group, err = strconv.Atoi(parts[1]); err != nil || r.Group <= 0 {
			return Rule{}, fmt.Errorf("%w: quant rule %q: bad group size %q", ErrOptions, s, parts[1])
		}
	}
	if len(parts) > 2 {
		if _, err := mlx.ParseQuantMode(parts[2]); err != nil {
			return Rule{}, fmt.Errorf("%w: quant rule %q: %v", ErrOptions, s, err)
		}
		r.Mode = parts[2]
	}
	return r, nil
}

// ParseRules reads rules one per line; blank lines and lines starting with
// '#' are ignored. name is used in errors.
func ParseRules(r io.Reader, name string) ([]Rule, error) {
	var out []Rule
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		rule, err := ParseRule(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Recipe is one of mlx-lm's mixed-precision quantization recipes
// (mlx_lm.convert's quant predicates). The zero value means none. Every
// property lives in one trait table (recipeTraits).
type Recipe string

// The recipes: the low bit width for most layers, the high one for the
// sensitive layers (v_proj, down_proj in the first and last eighth of the
// layers and every third layer, lm_head).
const (
	RecipeMixed2_6 Recipe = "mixed_2_6"
	RecipeMixed3_4 Recipe = "mixed_3_4"
	RecipeMixed3_6 Recipe = "mixed_3_6"
	RecipeMixed4_6 Recipe = "mixed_4_6"
)

// Recipes lists the recipes, in mlx-lm's order.
var Recipes = []Recipe{RecipeMixed2_6, RecipeMixed3_4, RecipeMixed3_6, RecipeMixed4_6}

var recipeTraits = map[Recipe]struct{ low, high int }{
	RecipeMixed2_6: {2, 6},
	RecipeMixed3_4: {3, 4},
	RecipeMixed3_6: {3, 6},
	RecipeMixed4_6: {4, 6},
}

// Valid reports whether r is one of Recipes.
func (r Recipe) valid() bool { _, ok := recipeTraits[r]; return ok }

// ParseRecipe maps a recipe name ("mixed_3_6") to a Recipe; an unknown name
// is an error wrapping ErrOptions.
func ParseRecipe(s string) (Recipe, error) {
	if r := Recipe(s); r.valid() {
		return r, nil
	}
	return "", fmt.Errorf("%w: unknown quant recipe %q (want one of %s)", ErrOptions, s, recipeNames())
}

// recipeNames returns the recipe names, comma-separated.
func recipeNames() string {
	names := make([]string, len(Recipes))
	for i, r := range Recipes {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// recipe is a built mixed-precision predicate.
type recipe struct {
	name      string
	low, high int
	group     int // the raw --q-group-size; 0 writes null, as mlx-lm does
	loc       int // index of the layer number among the path's components
	layers    int
}

// buildRecipe prepares a recipe for a model. The layer number's position
// is found from the first module path holding down_proj, as mlx-lm does;
// a model without one is refused with mlx-lm's message (its
// mixed_quant_predicate_builder raises ValueError: gpt_bigcode, phi,
// starcoder2).
func buildRecipe(name Recipe, group int, spec *modelSpec) (*recipe, error) {
	bits, ok := recipeTraits[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown quant recipe %q (want one of %s)", ErrOptions, string(name), recipeNames())
	}
	r := &recipe{name: string(name), low: bits.low, high: bits.high, group: group, loc: -1, layers: spec.NumLayers}
	find := func(want func(string) bool) {
		for _, m := range spec.Modules {
			if !want(m.Path) {
				continue
			}
			for i, c := range strings.Split(m.Path, ".") {
				if model.IsDigits(c) {
					r.loc = i
					return
				}
			}
		}
	}
	if !slices.ContainsFunc(spec.Modules, func(m model.Module) bool { return strings.Contains(m.Path, "down_proj") }) {
		return nil, fmt.Errorf("%w: recipe %s: the model does not have expected keys for mixed quant (no down_proj module, as mlx-lm requires)", ErrOptions, name)
	}
	find(func(p string) bool { return strings.Contains(p, "down_proj") })
	if r.loc < 0 || r.layers <= 0 {
		return nil, fmt.Errorf("%w: recipe %s needs a model with numbered layers", ErrOptions, name)
	}
	return r, nil
}

// pymod is Python's % for a positive modulus.
func pymod(a, m int) int {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

// bitsFor returns the recipe's bits for a module path.
func (r *recipe) bitsFor(path string) int {
	idx := 0
	if comps := strings.Split(path, "."); len(comps) > r.loc {
		idx, _ = strconv.Atoi(comps[r.loc]) // a non-numeric component counts as layer 0
	}
	n := r.layers
	more := idx < n/8 || idx >= 7*n/8 || pymod(idx-n/8, 3) == 2
	switch {
	case (strings.Contains(path, "v_proj") || strings.Contains(path, "v_a_proj") || strings.Contains(path, "v_b_proj")) && more:
		return r.high
	case strings.Contains(path, "down_proj") && more:
		return r.high
	case strings.Contains(path, "lm_head"):
		return r.high
	}
	return r.low
}

// entry returns the config entry the recipe writes for path.
func (r *recipe) entry(path string) *pyjson.Object {
	o := pyjson.NewObject()
	if r.group == 0 {
		o.Set("group_size", nil)
	} else {
		o.Set("group_size", pyjson.Int(int64(r.group)))
	}
	o.Set("bits", pyjson.Int(int64(r.bitsFor(path))))
	o.Set("mode", "affine")
	return o
}

// quantEntry returns {"group_size": g, "bits": b, "mode": m}.
func quantEntry(p mlx.QuantParams) *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("group_size", pyjson.Int(int64(p.GroupSize)))
	o.Set("bits", pyjson.Int(int64(p.Bits)))
	o.Set("mode", p.Mode.String())
	return o
}
