package modelinfo

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/mlx"
	"github.com/mlxconv/mlxconv/model/source"
)

func tensor(name string, dt mlx.DType, shape ...int) Tensor {
	return Tensor{Name: name, DType: dt, Type: dt.SafetensorsName(), Shape: shape, Bytes: source.NumElements(shape) * int64(dt.Size())}
}

// quantized returns the packed weight, scales and (affine) biases of a
// [out, in] linear quantized with bits and group.
func quantized(mod string, out, in, bits, group int, affine bool) []Tensor {
	ts := []Tensor{tensor(mod+".weight", mlx.U32, out, in*bits/32)}
	if affine {
		return append(ts, tensor(mod+".scales", mlx.BF16, out, in/group), tensor(mod+".biases", mlx.BF16, out, in/group))
	}
	return append(ts, tensor(mod+".scales", mlx.U8, out, in/group))
}

func config(t *testing.T, s string) *pyjson.Object {
	t.Helper()
	if s == "" {
		return nil
	}
	v, err := pyjson.Parse([]byte(s))
	require.NoError(t, err)
	return v.(*pyjson.Object)
}

func cat(parts ...[]Tensor) []Tensor {
	var out []Tensor
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDescribe(t *testing.T) {
	norm := []Tensor{tensor("model.norm.weight", mlx.BF16, 64)}
	tests := []struct {
		name    string
		tensors []Tensor
		cfg     string
		params  int64
		exact   bool
		bpw     float64
		groups  []QuantGroup
		unknown int
		config  *Quant
		method  string
		over    []Override
	}{
		{name: "float", tensors: cat(norm, []Tensor{tensor("lm_head.weight", mlx.BF16, 32, 64)}),
			cfg: `{"model_type": "llama"}`, params: 64 + 2048, exact: true, bpw: 16},
		{name: "affine 4-bit from config", tensors: cat(norm, quantized("lm_head", 32, 64, 4, 64, true)),
			cfg:    `{"quantization": {"group_size": 64, "bits": 4}}`,
			params: 64 + 2048, exact: true, bpw: float64(128+32*8*4+32*2*2) * 8 / 2112,
			groups: []QuantGroup{{Quant{"affine", 4, 64}, 1}}, config: &Quant{"affine", 4, 64}},
		{name: "per-module entry, null group size takes the mode's default",
			tensors: cat(norm, quantized("a", 32, 64, 4, 64, true), quantized("b", 32, 128, 3, 64, true)),
			cfg:     `{"quantization": {"group_size": 32, "bits": 4, "mode": "affine", "a": {"group_size": 64, "bits": 4}, "b": {"group_size": null, "bits": 3, "mode": "affine"}}}`,
			params:  64 + 2048 + 4096, exact: true,
			bpw:    float64(128+(32*8*4+32*2*2)+(32*12*4+32*2*2*2)) * 8 / float64(64+2048+4096),
			groups: []QuantGroup{{Quant{"affine", 3, 64}, 1}, {Quant{"affine", 4, 64}, 1}},
			config: &Quant{"affine", 4, 32},
			over:   []Override{{"a", &Quant{"affine", 4, 64}}, {"b", &Quant{"affine", 3, 64}}}},
		{name: "affine without config: bits unknown", tensors: cat(norm, quantized("a", 32, 64, 4, 64, true)),
			params: 64, exact: false, unknown: 1},
		{name: "mxfp4 inferred from shapes", tensors: cat(norm, quantized("a", 32, 64, 4, 32, false)),
			params: 64 + 2048, exact: true, bpw: float64(128+32*8*4+32*2) * 8 / 2112,
			groups: []QuantGroup{{Quant{"mxfp4", 4, 32}, 1}}},
		{name: "nvfp4 and mxfp8 inferred", tensors: cat(quantized("a", 16, 64, 4, 16, false), quantized("b", 16, 64, 8, 32, false)),
			params: 2048, exact: true, bpw: float64(16*8*4+16*4+16*16*4+16*2) * 8 / 2048,
			groups: []QuantGroup{{Quant{"mxfp8", 8, 32}, 1}, {Quant{"nvfp4", 4, 16}, 1}}},
		{name: "shapes that do not fit the config", tensors: cat(norm, quantized("a", 32, 64, 8, 64, true)),
			cfg: `{"quantization": {"group_size": 64, "bits": 4}}`, params: 64, exact: false, unknown: 1,
			config: &Quant{"affine", 4, 64}},
		{name: "entry false but scales present", tensors: quantized("a", 32, 64, 4, 64, true),
			cfg: `{"quantization": {"group_size": 64, "bits": 4, "a": false}}`, exact: false, unknown: 1,
			config: &Quant{"affine", 4, 64}, over: []Override{{"a", nil}}},
		{name: "hf quant_method", tensors: []Tensor{tensor("w.weight", mlx.F8E4M3, 8, 8), tensor("w.weight_scale_inv", mlx.F32, 1, 1)},
			cfg: `{"quantization_config": {"quant_method": "fp8"}}`, params: 65, exact: true, bpw: float64(64+4) * 8 / 65, method: "fp8"},
		{name: "scales without a weight are plain", tensors: []Tensor{tensor("x.scales", mlx.F32, 4)},
			params: 4, exact: true, bpw: 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Describe("m", KindModel, nil, tc.tensors, config(t, tc.cfg))
			assert.Equal(t, tc.params, r.Parameters)
			assert.Equal(t, tc.exact, r.ParametersExact)
			assert.InDelta(t, tc.bpw, r.BitsPerWeight, 1e-9)
			q := r.Quantization
			if tc.groups == nil && tc.unknown == 0 && tc.config == nil && tc.method == "" {
				assert.Nil(t, q)
				return
			}
			require.NotNil(t, q)
			assert.Equal(t, tc.groups, q.Modules)
			assert.Len(t, q.Unknown, tc.unknown, "%v", q.Unknown)
			assert.Equal(t, tc.config, q.Config)
			assert.Equal(t, tc.method, q.Method)
			assert.Equal(t, tc.over, q.Overrides)
		})
	}
}

func TestDTypeStats(t *testing.T) {
	r := Describe("f", KindFile, nil, cat(quantized("a", 4, 64, 4, 64, true), []Tensor{tensor("n", mlx.F32, 3)}), nil)
	assert.Equal(t, []DTypeStat{
		{DType: "U32", Tensors: 1, Elements: 32, Bytes: 128},
		{DType: "BF16", Tensors: 2, Elements: 8, Bytes: 16},
		{DType: "F32", Tensors: 1, Elements: 3, Bytes: 12},
	}, r.DTypes)
}

// The text report quotes or escapes names from the file.
func TestWriteTextEscapes(t *testing.T) {
	ts := []Tensor{tensor("evil\x1b[2J.weight", mlx.F32, 2)}
	files := []File{{Name: "model\u202e.safetensors", Tensors: 1, Metadata: map[string]string{"k\n": "v\x07"}}}
	cfg := config(t, `{"model_type": "x\u001b[31m", "architectures": ["A\n"]}`)
	var b bytes.Buffer
	require.NoError(t, Describe("dir\x1b", KindModel, files, ts, cfg).WriteText(&b, false))
	out := b.String()
	for _, raw := range []string{"\x1b", "\u202e", "\x07", "k\n"} {
		assert.NotContains(t, out, raw)
	}
	assert.Contains(t, out, `evil\x1b[2J.weight`)
	assert.Contains(t, out, `"model\u202e.safetensors"`)
}
