package ggufexport

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
)

// TestParamSet: Meta.Has sees every float parameter and a quantized
// module's weight, scales, biases and bias, nothing else.
func TestParamSet(t *testing.T) {
	in := &source.Input{}
	m := &source.Model{Modules: []source.Module{
		{Path: "model.layers.3.eh_proj", Params: []source.Param{{Name: "weight", Input: in}, {Name: "bias", Input: in}}},
		{Path: "model.layers.1.mlp.gate", Params: []source.Param{{Name: "e_score_correction_bias", Input: in}}},
		{Path: "model.layers.0.self_attn.q_proj", Quant: &mlx.QuantParams{Bits: 4, GroupSize: 64}, Weight: in, Scales: in, Biases: in},
		{Path: "model.layers.0.self_attn.k_proj", Quant: &mlx.QuantParams{Bits: 4, GroupSize: 32, Mode: mlx.MXFP4}, Weight: in, Scales: in, Bias: in},
	}}
	has := paramSet(m)
	for name, want := range map[string]bool{
		"model.layers.3.eh_proj.weight":                   true,
		"model.layers.3.eh_proj.bias":                     true,
		"model.layers.1.mlp.gate.e_score_correction_bias": true,
		"model.layers.1.mlp.gate.weight":                  false,
		"model.layers.0.self_attn.q_proj.weight":          true,
		"model.layers.0.self_attn.q_proj.biases":          true,
		"model.layers.0.self_attn.q_proj.bias":            false,
		"model.layers.0.self_attn.k_proj.scales":          true,
		"model.layers.0.self_attn.k_proj.bias":            true,
		"model.layers.0.self_attn.k_proj.biases":          false,
		"model.layers.3.eh_proj":                          false,
	} {
		assert.Equal(t, want, has(name), name)
	}
}
