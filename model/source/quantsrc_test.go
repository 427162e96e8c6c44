package source

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model"
)

// linearTensors returns the tensors a quantized source format stores for a
// Linear layer of shape [out, in] at path.
type linearTensors func(path string, out, in int) []SourceTensor

// quantSourceInventory is a one-layer llama whose Linear layers are
// stored by lin, with quantization_config qc ("" for none) and
// hf_quant_config.json hfq ("" for none).
func quantSourceInventory(t *testing.T, qc, hfq string, lin linearTensors) *Inventory {
	t.Helper()
	js := `{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1, "intermediate_size": 96,
		"num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "vocab_size": 50,
		"tie_word_embeddings": true`
	if qc != "" {
		js += `, "quantization_config": ` + qc
	}
	cfg, err := model.ParseObject([]byte(js + "}"))
	require.NoError(t, err)
	inv := &Inventory{Config: cfg, Files: []string{"model.safetensors"}}
	if hfq != "" {
		inv.HFQuantConfig, err = model.ParseObject([]byte(hfq))
		require.NoError(t, err)
	}
	add := func(name string, dt mlx.DType, shape ...int) {
		inv.Tensors = append(inv.Tensors, SourceTensor{Name: name, DType: dt, Shape: shape})
	}
	add("model.embed_tokens.weight", mlx.BF16, 50, 64)
	add("model.norm.weight", mlx.BF16, 64)
	add("model.layers.0.input_layernorm.weight", mlx.BF16, 64)
	add("model.layers.0.post_attention_layernorm.weight", mlx.BF16, 64)
	for _, l := range []struct {
		path    string
		out, in int
	}{
		{"self_attn.q_proj", 64, 64}, {"self_attn.k_proj", 32, 64}, {"self_attn.v_proj", 32, 64},
		{"self_attn.o_proj", 64, 64}, {"mlp.gate_proj", 96, 64}, {"mlp.up_proj", 96, 64}, {"mlp.down_proj", 64, 96},
	} {
		inv.Tensors = append(inv.Tensors, lin("model.layers.0."+l.path, l.out, l.in)...)
	}
	return inv
}

func st(name string, dt mlx.DType, shape ...int) SourceTensor {
	return SourceTensor{Name: name, DType: dt, Shape: shape}
}

// TestQuantSourceRefused pins the refusal of quantized Hub formats whose
// tensors the family's sanitize leaves (mlx-lm 0.32.2 fails to load them
// too): the error names the format and the tensors.
func TestQuantSourceRefused(t *testing.T) {
	fp8 := func(p string, o, i int) []SourceTensor {
		return []SourceTensor{st(p+".weight", mlx.F8E4M3, o, i), st(p+".weight_scale_inv", mlx.F32, 1, 1)}
	}
	ctInt4 := func(p string, o, i int) []SourceTensor {
		return []SourceTensor{st(p+".weight_packed", mlx.I32, o, i/8), st(p+".weight_scale", mlx.BF16, o, i/32),
			st(p+".weight_shape", mlx.I64, 2)}
	}
	ctNVFP4 := func(p string, o, i int) []SourceTensor {
		return []SourceTensor{st(p+".weight_packed", mlx.U8, o, i/2), st(p+".weight_scale", mlx.F8E4M3, o, i/16),
			st(p+".weight_global_scale", mlx.F32, 1), st(p+".input_global_scale", mlx.F32, 1)}
	}
	modelopt := func(p string, o, i int) []SourceTensor {
		return []SourceTensor{st(p+".weight", mlx.U8, o, i/2), st(p+".weight_scale", mlx.F8E4M3, o, i/16),
			st(p+".weight_scale_2", mlx.F32), st(p+".input_scale", mlx.F32)}
	}
	plain := func(p string, o, i int) []SourceTensor { return []SourceTensor{st(p+".weight", mlx.BF16, o, i)} }
	extra := func(p string, o, i int) []SourceTensor {
		return []SourceTensor{st(p+".weight", mlx.BF16, o, i), st(p+".lora_A", mlx.BF16, 4, i)}
	}
	const hfq = `{"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "NVFP4", "group_size": 16}}`
	cases := []struct {
		name, qc, hfq string
		lin           linearTensors
		err           error
		msg           string
	}{
		{"fp8 128x128", `{"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}`, "", fp8, model.ErrUnsupported,
			`block-scaled FP8 (quant_method "fp8", weight_block_size [128 128]) checkpoint: the llama model does not load its packed tensors ("model.layers.0.self_attn.q_proj.weight_scale_inv"`},
		{"fp8 ue8m0 32x32 (mxfp8 entry)", `{"quant_method": "fp8", "scale_fmt": "ue8m0", "weight_block_size": [32, 32]}`, "", fp8,
			model.ErrUnsupported, `weight_block_size [32 32], scale_fmt "ue8m0") checkpoint`},
		{"compressed-tensors int4", `{"quant_method": "compressed-tensors", "format": "pack-quantized"}`, "", ctInt4,
			model.ErrUnsupported, `compressed-tensors "pack-quantized" checkpoint: the llama model does not load its packed tensors ("model.layers.0.self_attn.q_proj.weight_packed", "model.layers.0.self_attn.q_proj.weight_scale", "model.layers.0.self_attn.q_proj.weight_shape"`},
		{"compressed-tensors nvfp4", `{"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}`, "", ctNVFP4,
			model.ErrUnsupported, `compressed-tensors "nvfp4-pack-quantized" checkpoint`},
		{"compressed-tensors float-quantized", `{"quant_method": "compressed-tensors", "format": "float-quantized"}`, "", fp8,
			model.ErrUnsupported, `unsupported compressed-tensors format "float-quantized"`},
		{"modelopt hf_quant_config.json", "", hfq, modelopt, model.ErrUnsupported,
			`ModelOpt "NVFP4" (hf_quant_config.json) checkpoint: hf_quant_config.json has no "quant_method"`},
		{"hf_quant_config.json over float weights", "", hfq, plain, model.ErrUnsupported,
			`hf_quant_config.json has no "quant_method" (mlx-lm 0.32.2 fails on it with KeyError 'quant_method')`},
		{"quantization_config without quant_method", `{"bits": 4}`, "", plain, model.ErrConfig,
			`config.json "quantization_config" has no "quant_method"`},
		{"empty quantization_config", `{}`, "", plain, nil, ""},
		{"quant_method null", `{"quant_method": null}`, "", plain, nil, ""},
		{"modelopt config.json", `{"quant_method": "modelopt", "quant_algo": "NVFP4"}`, hfq, modelopt, model.ErrUnsupported,
			`ModelOpt "NVFP4" checkpoint: the llama model does not load its packed tensors (`},
		{"scales without a config", "", "", fp8, model.ErrUnsupported, `: quantized checkpoint: the llama model`},
		{"other leftovers stay a weights error", "", "", extra, model.ErrWeights, `7 parameters not in the llama model`},
		{"plain loads", "", "", plain, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadModel(quantSourceInventory(t, tc.qc, tc.hfq, tc.lin))
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
			assert.Contains(t, err.Error(), tc.msg)
			if tc.err == model.ErrWeights {
				assert.NotErrorIs(t, err, model.ErrUnsupported)
			}
		})
	}
}
