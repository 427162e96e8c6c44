package convert

import (
	"fmt"
	"math"
	"slices"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

// finishConfig applies save_config's edits (pop _name_or_path and
// vision_config, quantization_config = quantization, top-level keys
// sorted, non-finite floats tagged) and renders config.json and the index.
func (pl *planner) finishConfig() error {
	c := pl.cfgObj
	c.Delete("_name_or_path")
	c.Delete("vision_config")
	if pl.arch.MLX.LegacyRope {
		legacyRope(c)
	}
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

// legacyRope gives a transformers-5 config (a flat "rope_parameters"
// object, no top-level "rope_theta") the keys mlx-lm 0.32.2's model files
// read. Most of their ModelArgs have rope_theta (with a default, often
// 10000) and rope_scaling but no rope_parameters, so mlx-lm loads such a
// config without error as another model: the default rope_theta and no
// scaling (llama with llama3 rope_parameters generates other tokens).
// mlx_lm.convert writes the config through unchanged; for the families
// whose model is proven to read it otherwise (MLX.LegacyRope) mlxconv adds
// rope_theta from rope_parameters and, when rope_scaling is absent or null
// and rope_type is not "default", rope_scaling = rope_parameters without
// rope_theta (the transformers-4 spelling). Per-layer-type
// rope_parameters (objects of objects) are left as they are.
func legacyRope(c *pyjson.Object) {
	v, _ := c.Get("rope_parameters")
	rp, ok := v.(*pyjson.Object)
	if !ok {
		return
	}
	theta, hasTheta := rp.Get("rope_theta")
	rtype, hasType := rp.Get("rope_type")
	if !hasTheta && !hasType {
		return
	}
	if _, ok := c.Get("rope_theta"); !ok && hasTheta {
		c.Set("rope_theta", model.CloneValue(theta))
	}
	if sc, ok := c.Get("rope_scaling"); (ok && sc != nil) || rtype == "default" || !hasType {
		return
	}
	scaling := pyjson.NewObject()
	for _, k := range rp.Keys() {
		if k != "rope_theta" {
			x, _ := rp.Get(k)
			scaling.Set(k, model.CloneValue(x))
		}
	}
	c.Set("rope_scaling", scaling)
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
