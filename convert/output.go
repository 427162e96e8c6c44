package convert

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// finishConfig applies save_config's edits (pop _name_or_path and
// vision_config, quantization_config = quantization, top-level keys
// sorted, non-finite floats tagged) and renders config.json and the index.
func (pl *planner) finishConfig() error {
	c := pl.cfgObj
	c.Delete("_name_or_path")
	c.Delete("vision_config")
	if q, ok := c.Get("quantization"); ok {
		c.Set("quantization_config", q)
	}
	c.SortKeys()
	out, err := pyjson.Marshal(tagFloats(c))
	if err != nil {
		return fmt.Errorf("%w: config.json: %v", ErrConfig, err)
	}
	pl.plan.Config = out
	pl.plan.Index, err = pl.plan.indexJSON()
	return err
}

// indexJSON renders model.safetensors.index.json as mlx-lm's save_model.
func (p *mlxPlan) indexJSON() ([]byte, error) {
	meta := pyjson.NewObject()
	meta.Set("total_size", pyjson.Int(p.TotalSize))
	meta.Set("total_parameters", pyjson.Int(p.TotalParameters))
	names := make([]int, len(p.Tensors))
	for i := range names {
		names[i] = i
	}
	slices.SortFunc(names, func(a, b int) int {
		switch x, y := p.Tensors[a].Name, p.Tensors[b].Name; {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	wm := pyjson.NewObject()
	for _, i := range names {
		t := p.Tensors[i]
		wm.Set(t.Name, p.Shards[t.Shard].Name)
	}
	idx := pyjson.NewObject()
	idx.Set("metadata", meta)
	idx.Set("weight_map", wm)
	return pyjson.Marshal(idx)
}

// tagFloats replaces non-finite floats by {"__float__": "Infinity"} (and
// "-Infinity", "NaN"), as mlx-lm's save_config does for valid JSON.
func tagFloats(v pyjson.Value) pyjson.Value {
	switch x := v.(type) {
	case pyjson.Number:
		if x.IsInt() {
			return x
		}
		f, err := x.Float64()
		if err != nil && !math.IsInf(f, 0) {
			return x
		}
		tag := ""
		switch {
		case math.IsNaN(f):
			tag = "NaN"
		case math.IsInf(f, 1):
			tag = "Infinity"
		case math.IsInf(f, -1):
			tag = "-Infinity"
		default:
			return x
		}
		o := pyjson.NewObject()
		o.Set("__float__", tag)
		return o
	case *pyjson.Object:
		o := pyjson.NewObject()
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			o.Set(k, tagFloats(e))
		}
		return o
	case []pyjson.Value:
		out := make([]pyjson.Value, len(x))
		for i, e := range x {
			out[i] = tagFloats(e)
		}
		return out
	}
	return v
}
