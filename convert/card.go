package convert

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/internal/modelcard"
	"github.com/mlxconv/mlxconv/mlx"
)

// modelCard renders the output's README.md: the source card's front
// matter kept (for local and Hub sources), base_model for a Hub source (or
// a local snapshot of the Hub cache), and the recipe.
func modelCard(plan *mlxPlan, opts *Options, dir, hubRepo string) ([]byte, error) {
	src, err := readSourceCard(dir)
	if err != nil {
		return nil, err
	}
	base := hubRepo
	if base == "" {
		base = cacheRepoID(dir)
	}
	card, err := modelcard.Render(modelcard.Info{BaseModel: base, Source: src, Version: opts.Version,
		Command: opts.Command, Recipe: planRecipe(plan, opts)})
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	return card, nil
}

// readSourceCard reads dir/README.md (nil if there is none); of a card
// over modelcard.MaxSourceSize only the start (where the front matter is)
// is read.
func readSourceCard(dir string) ([]byte, error) {
	p := filepath.Join(dir, "README.md")
	b, err := fsx.ReadFile(p, modelcard.MaxSourceSize)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, fsx.ErrTooLarge):
		f, err := fsx.OpenRegular(p)
		if err != nil {
			return nil, fmt.Errorf("convert: source model card: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, modelcard.MaxSourceSize))
		if err != nil {
			return nil, fmt.Errorf("convert: source model card %q: %w", p, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("convert: source model card: %w", err)
}

// reCacheSnapshot matches a huggingface_hub cache snapshot directory.
var reCacheSnapshot = regexp.MustCompile(`(?:^|/)models--([A-Za-z0-9][A-Za-z0-9._-]*)(?:--([A-Za-z0-9][A-Za-z0-9._-]*))?/snapshots/[^/]+/?$`)

// cacheRepoID is the repo id of a huggingface_hub cache snapshot directory
// (…/models--org--name/snapshots/REV), "" for any other directory.
func cacheRepoID(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	m := reCacheSnapshot.FindStringSubmatch(filepath.ToSlash(abs))
	switch {
	case m == nil || strings.Contains(m[1], "--"):
		return ""
	case m[2] == "":
		return m[1]
	}
	return m[1] + "/" + m[2]
}

// planRecipe lists what the conversion does, for the card.
func planRecipe(p *mlxPlan, opts *Options) []modelcard.Field {
	var out []modelcard.Field
	add := func(name, value string, details ...string) {
		out = append(out, modelcard.Field{Name: name, Value: value, Details: details})
	}
	switch {
	case p.Quant != nil:
		q := fmt.Sprintf("%s, %d bits, group size %d", p.Quant.Mode, p.Quant.Bits, p.Quant.GroupSize)
		if p.Recipe != "" {
			q = fmt.Sprintf("mixed-precision recipe %s (%s, group size %d)", p.Recipe, p.Quant.Mode, p.Quant.GroupSize)
		}
		add("Quantization", q)
	case p.Dequantize:
		add("Quantization", "none (dequantized)")
	default:
		add("Quantization", "none")
	}
	if len(opts.Rules) > 0 {
		rules := make([]string, len(opts.Rules))
		for i, r := range opts.Rules {
			rules[i] = "`" + strings.ReplaceAll(r.Text, "`", "'") + "`"
		}
		add("Per-module rules (first match wins)", strings.Join(rules, ", "))
	}
	counts, common, others := quantizedModules(p)
	if len(counts) > 0 {
		add("Quantized modules", strings.Join(counts, "; "))
	}
	if len(others) > 0 {
		add("Modules not at "+common, fmt.Sprint(len(others)), others...)
	}
	dt := "as stored"
	if p.DType != mlx.Invalid {
		dt = p.DType.String()
	}
	add("Other parameters", dt)
	add("Parameters", fmt.Sprint(p.TotalParameters))
	add("Bits per weight", fmt.Sprintf("%.3f", p.BitsPerWeight()))
	v := opts.Version
	if v == "" {
		v = "(development)"
	}
	add("Tool", "mlxconv "+v)
	return out
}

// quantizedModules counts the quantized modules per setting and lists
// the ones whose setting is not the most common one.
func quantizedModules(p *mlxPlan) (counts []string, common string, others []string) {
	n := map[string]int{}
	setting := make([]string, len(p.Jobs))
	for i, j := range p.Jobs {
		if j.Action == actQuantize {
			setting[i] = fmt.Sprintf("%s %d-bit, group %d", j.Quant.Mode, j.Quant.Bits, j.Quant.GroupSize)
			n[setting[i]]++
		}
	}
	for s, c := range n {
		counts = append(counts, fmt.Sprintf("%d × %s", c, s))
		if c > n[common] || c == n[common] && s < common {
			common = s
		}
	}
	sort.Strings(counts)
	for i, s := range setting {
		if s != "" && s != common {
			others = append(others, fmt.Sprintf("`%s`: %s", p.Jobs[i].Module, s))
		}
	}
	return counts, common, others
}
