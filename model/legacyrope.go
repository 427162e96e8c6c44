package model

import "github.com/mlxconv/mlxconv/internal/pyjson"

// AddLegacyRope gives a transformers-5 config (a flat "rope_parameters"
// object, no top-level "rope_theta") the keys mlx-lm 0.32.2's model files
// read. Most of their ModelArgs have rope_theta (with a default, often
// 10000) and rope_scaling but no rope_parameters, so mlx-lm loads such a
// config without error as another model: the default rope_theta and no
// scaling (llama with llama3 rope_parameters generates other tokens).
// mlx_lm.convert writes the config through unchanged; for the families
// whose model is proven to read it otherwise (MLX.LegacyRope) mlxconv's
// loader applies this to the config before the parameter tree is built, so
// the output config.json has it; it adds
// rope_theta from rope_parameters and, when rope_scaling is absent or null
// and rope_type is not "default", rope_scaling = rope_parameters without
// rope_theta (the transformers-4 spelling), or else rope_scaling null
// when absent (as transformers 4 writes it); a partial_rotary_factor in
// rope_parameters (transformers 5 moves it there: glm4, phi, stablelm,
// qwen3_next) becomes the top-level key again. A "text_config" object
// (mistral3, llama4) gets the same. Per-layer-type rope_parameters
// (objects of objects) count when all are equal (olmo3) and are left as
// they are otherwise.
func AddLegacyRope(c *pyjson.Object) {
	if tc, ok := c.Get("text_config"); ok {
		if tco, ok := tc.(*pyjson.Object); ok {
			AddLegacyRope(tco)
		}
	}
	rp := flatRope(c)
	if rp == nil {
		return
	}
	for _, k := range []string{"rope_theta", "partial_rotary_factor"} {
		if v, ok := rp.Get(k); ok {
			if _, ok := c.Get(k); !ok {
				c.Set(k, CloneValue(v))
			}
		}
	}
	sc, hasScaling := c.Get("rope_scaling")
	if hasScaling && sc != nil {
		return
	}
	if rtype, ok := rp.Get("rope_type"); rtype == "default" || !ok {
		if !hasScaling {
			c.Set("rope_scaling", nil) // required by some ModelArgs (exaone4, glm4_moe)
		}
		return
	}
	scaling := pyjson.NewObject()
	for _, k := range rp.Keys() {
		if k != "rope_theta" && k != "partial_rotary_factor" {
			x, _ := rp.Get(k)
			scaling.Set(k, CloneValue(x))
		}
	}
	c.Set("rope_scaling", scaling)
}

// flatRope is c's rope_parameters as one rope (with rope_theta or
// rope_type), or nil.
func flatRope(c *pyjson.Object) *pyjson.Object {
	v, _ := c.Get("rope_parameters")
	rp, ok := v.(*pyjson.Object)
	if !ok {
		return nil
	}
	if one, ok := samePerLayerRope(rp); ok {
		rp = one
	}
	_, hasTheta := rp.Get("rope_theta")
	_, hasType := rp.Get("rope_type")
	if !hasTheta && !hasType {
		return nil
	}
	return rp
}

// samePerLayerRope is the one rope of a per-layer-type rope_parameters
// ({"full_attention": {...}, "sliding_attention": {...}}, olmo3) whose
// entries are all equal (numbers by value: transformers 5 writes 500000
// for one and 500000.0 for the other); false otherwise.
func samePerLayerRope(rp *pyjson.Object) (*pyjson.Object, bool) {
	var one *pyjson.Object
	for _, k := range rp.Keys() {
		v, _ := rp.Get(k)
		o, ok := v.(*pyjson.Object)
		if !ok || (one != nil && !sameJSON(one, o)) {
			return nil, false
		}
		if one == nil {
			one = o
		}
	}
	return one, one != nil
}

// sameJSON: a and b are equal JSON values, numbers compared by value.
func sameJSON(a, b pyjson.Value) bool {
	switch x := a.(type) {
	case pyjson.Number:
		y, ok := b.(pyjson.Number)
		if !ok {
			return false
		}
		fx, ex := x.Float64()
		fy, ey := y.Float64()
		return ex == nil && ey == nil && fx == fy
	case *pyjson.Object:
		y, ok := b.(*pyjson.Object)
		if !ok || len(x.Keys()) != len(y.Keys()) {
			return false
		}
		for _, k := range x.Keys() {
			xv, _ := x.Get(k)
			yv, ok := y.Get(k)
			if !ok || !sameJSON(xv, yv) {
				return false
			}
		}
		return true
	case []pyjson.Value:
		y, ok := b.([]pyjson.Value)
		return ok && sameArray(x, y)
	}
	return a == b
}

func sameArray(x, y []pyjson.Value) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !sameJSON(x[i], y[i]) {
			return false
		}
	}
	return true
}
