package ggufexport

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx"
)

// TestTorchExp pins -exp(A_log) to torch's float32 exp: MKL's results where
// they differ from the correctly rounded float32 for bfloat16 inputs, the
// correctly rounded value elsewhere, and a float16 source rounded to
// float16.
func TestTorchExp(t *testing.T) {
	bf16 := func(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }
	for _, tc := range []struct {
		name string
		in   float32
		dt   mlx.DType
		want uint32 // bits of -exp
	}{
		{"bf16 MKL exception 0.9765625", bf16(0x3f7a), mlx.BF16, 0xc029f0a5},
		{"bf16 MKL exception -0.8203125", bf16(0xbf52), mlx.BF16, 0xbee16e39},
		{"bf16 MKL exception 3.75", bf16(0x4070), mlx.F32, 0xc22a1596},
		{"bf16 value MKL rounds correctly: 1", 1, mlx.BF16, math.Float32bits(-float32(math.E))},
		{"float32 value: correctly rounded", 0.123456789, mlx.F32, math.Float32bits(-float32(math.Exp(float64(float32(0.123456789)))))},
		{"zero", 0, mlx.F32, math.Float32bits(-1)},
		{"float16 source rounded to float16 (3.75 -> 42.53125)", 3.75, mlx.F16, math.Float32bits(-42.53125)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := []float32{tc.in}
			negExp(x, tc.dt)
			assert.Equal(t, tc.want, math.Float32bits(x[0]), "-exp(%v) = %v", tc.in, x[0])
		})
	}
}

// TestMKLExpTable checks the table's entries are 1 ulp from the correctly
// rounded float32 (a typo would be farther) and keyed by finite inputs.
func TestMKLExpTable(t *testing.T) {
	for in, out := range mklExpBF16 {
		x := math.Float32frombits(uint32(in) << 16)
		require.False(t, math.IsNaN(float64(x)) || math.IsInf(float64(x), 0), "input 0x%04x", in)
		cr := int64(math.Float32bits(float32(math.Exp(float64(x)))))
		d := int64(out) - cr
		assert.True(t, d == 1 || d == -1, "exp(%v): table 0x%08x, correctly rounded 0x%08x", x, out, cr)
	}
}

// TestDecodePyJSONValue reads config.json as Python's json module does:
// NaN and ±Infinity are numbers, everything else as decodeJSONValue.
func TestDecodePyJSONValue(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     any
		err      bool
	}{
		{"infinity in a list", `{"time_step_limit": [0.0, Infinity], "n": 3}`,
			jsonObj{"time_step_limit": []any{json.Number("0.0"), json.Number("Infinity")}, "n": json.Number("3")}, false},
		{"nan and -infinity", `{"a": NaN, "b": -Infinity, "c": {"d": null, "e": true, "f": "x"}}`,
			jsonObj{"a": json.Number("NaN"), "b": json.Number("-Infinity"), "c": jsonObj{"d": nil, "e": true, "f": "x"}}, false},
		{"not JSON", `{"a": Inf}`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodePyJSONValue(json.RawMessage(tc.in))
			if tc.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
