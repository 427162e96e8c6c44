package convert

import (
	"fmt"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/family"
)

// The MLX parameter tree and config accessor are the model package's;
// the families live in model/family, one file each.
type (
	modelSpec  = model.Tree
	moduleSpec = model.Module
	paramSpec  = model.Param
	config     = model.Config
)

const (
	kindOther        = model.KindOther
	kindLinear       = model.KindLinear
	kindEmbedding    = model.KindEmbedding
	kindSwitchLinear = model.KindSwitchLinear
)

var (
	newConfig   = model.NewConfig
	describe    = model.Describe
	cloneValue  = model.CloneValue
	truthy      = model.Truthy
	parseObject = model.ParseObject
	joinName    = model.JoinName
)

// SupportedModelTypes returns every config.json model_type Run converts,
// sorted.
func SupportedModelTypes() []string { return family.ModelTypes() }

// lookupArch returns the family of a config, or ErrUnsupported.
func lookupArch(cfg *pyjson.Object) (*model.Family, error) {
	c := newConfig(cfg, "config.json")
	raw, ok := cfg.Get("model_type")
	mt, isStr := raw.(string)
	if !ok || !isStr {
		return nil, fmt.Errorf("%w: config.json has no model_type string", ErrConfig)
	}
	if mf, ok := c.Value("model_file"); ok {
		return nil, fmt.Errorf("%w: config.json names a custom model file %s, which needs Python to run", ErrUnsupported, describe(mf))
	}
	if f := family.Lookup(mt); f != nil {
		return f, nil
	}
	return nil, fmt.Errorf("%w: model type %q is not supported; supported families: %s",
		ErrUnsupported, mt, strings.Join(family.Names(false), ", "))
}

// tensorView is a tensorSet as the families' sanitize sees it.
type tensorView struct{ ts *tensorSet }

func (v tensorView) Has(name string) bool { return v.ts.has(name) }
func (v tensorView) Shape(name string) ([]int, bool) {
	in, ok := v.ts.get(name)
	if !ok {
		return nil, false
	}
	return in.Shape, true
}
func (v tensorView) Names() []string                       { return v.ts.names() }
func (v tensorView) Len() int                              { return v.ts.len() }
func (v tensorView) Pop(name string)                       { v.ts.pop(name) }
func (v tensorView) Filter(keep func(name string) bool)    { v.ts.filter(keep) }
func (v tensorView) Stack(dst string, srcs []string) error { return v.ts.stack(dst, srcs) }
func (v tensorView) WithPrefix(prefix string) []string     { return v.ts.withPrefix(prefix) }
func (v tensorView) Rename(name, to string) error          { return v.ts.rename(name, to) }
func (v tensorView) Split(name string, axis int, dsts []string) error {
	return v.ts.split(name, axis, dsts)
}
func (v tensorView) Transform(name string, op model.ValueOp) error { return v.ts.transform(name, op) }
