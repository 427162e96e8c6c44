package source

import (
	"fmt"
	"strings"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
	"github.com/mlxconv/mlxconv/model/family"
)

// Preflight checks a model directory holding at least config.json (for a
// Hub source: only the small files fetched before any weight) and reports,
// before anything large is read, whether its model can be loaded: the
// config parses, names a supported model_type and needs no custom Python
// model file. Errors wrap model.ErrConfig or model.ErrUnsupported.
func Preflight(dir string) error {
	cfg, err := readConfig(dir)
	if err != nil {
		return err
	}
	_, err = lookup(cfg)
	return err
}

// lookup returns the family of a config, or an error wrapping
// model.ErrConfig or model.ErrUnsupported.
func lookup(cfg *pyjson.Object) (*model.Family, error) {
	c := newConfig(cfg, "config.json")
	raw, ok := cfg.Get("model_type")
	mt, isStr := raw.(string)
	if !ok || !isStr {
		return nil, fmt.Errorf("%w: config.json has no model_type string", model.ErrConfig)
	}
	if mf, ok := c.Value("model_file"); ok {
		return nil, fmt.Errorf("%w: config.json names a custom model file %s, which needs Python to run", model.ErrUnsupported, describe(mf))
	}
	if f := family.Lookup(mt); f != nil {
		return f, nil
	}
	return nil, fmt.Errorf("%w: model type %q is not supported; supported families: %s",
		model.ErrUnsupported, mt, strings.Join(family.Names(false), ", "))
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
func (v tensorView) Interleave(name string, axis int, dsts []string) error {
	return v.ts.interleave(name, axis, dsts)
}
func (v tensorView) Bitcast(name, dtype string, flattenLast2 bool) error {
	return v.ts.bitcast(name, dtype, flattenLast2)
}
func (v tensorView) Transform(name string, op model.ValueOp) error { return v.ts.transform(name, op) }
func (v tensorView) View(dst, src string, w model.View) error      { return v.ts.view(dst, src, w) }
func (v tensorView) DequantFP8(weight, scaleInv string, block int, f32 bool) error {
	return v.ts.dequantFP8(weight, scaleInv, block, f32)
}
func (v tensorView) ViewUint32(name string) error { return v.ts.viewUint32(name) }
func (v tensorView) Scaled(dst, src string, factor float32) error {
	return v.ts.scaled(dst, src, factor)
}
func (v tensorView) Scale(name string, sc model.Scaling) error { return v.ts.scale(name, sc) }
