package quantplan_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/ggufexport/quantplan"
)

// model is a dense 16-layer model with rows of ncols (ffn_down: ffnCols),
// tensors given in the converter's order (not llama-quantize's).
func model(ncols, ffnCols uint64, tied bool) []quantplan.Tensor {
	ts := []quantplan.Tensor{{Name: "token_embd.weight", Type: gguf.BF16, Shape: []uint64{ncols, 1000}}}
	for l := range 16 {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			quantplan.Tensor{Name: p + "attn_norm.weight", Type: gguf.F32, Shape: []uint64{ncols}},
			quantplan.Tensor{Name: p + "attn_q.weight", Type: gguf.BF16, Shape: []uint64{ncols, ncols}},
			quantplan.Tensor{Name: p + "attn_k.weight", Type: gguf.BF16, Shape: []uint64{ncols, ncols / 4}},
			quantplan.Tensor{Name: p + "attn_v.weight", Type: gguf.BF16, Shape: []uint64{ncols, ncols / 4}},
			quantplan.Tensor{Name: p + "attn_output.weight", Type: gguf.BF16, Shape: []uint64{ncols, ncols}},
			quantplan.Tensor{Name: p + "ffn_down.weight", Type: gguf.BF16, Shape: []uint64{ffnCols, ncols}},
		)
	}
	if !tied {
		ts = append(ts, quantplan.Tensor{Name: "output.weight", Type: gguf.BF16, Shape: []uint64{ncols, 1000}})
	}
	return ts
}

func TestPlan(t *testing.T) {
	m := quantplan.Model{Arch: "llama", NLayer: 16, NHead: 8, NHeadKV: 2}
	tests := []struct {
		name string
		ft   quantplan.FileType
		m    quantplan.Model
		ts   []quantplan.Tensor
		o    quantplan.Options
		want map[string]gguf.Type
	}{
		{name: "Q4_K_M", ft: quantplan.Q4KM, m: m, ts: model(256, 512, false), want: map[string]gguf.Type{
			"token_embd.weight": gguf.Q4_K, "output.weight": gguf.Q6_K, "blk.0.attn_norm.weight": gguf.F32,
			"blk.0.attn_v.weight": gguf.Q6_K, "blk.2.attn_v.weight": gguf.Q4_K, "blk.4.attn_v.weight": gguf.Q6_K,
			"blk.15.attn_v.weight": gguf.Q6_K, "blk.3.ffn_down.weight": gguf.Q4_K, "blk.7.ffn_down.weight": gguf.Q6_K,
			"blk.5.attn_q.weight": gguf.Q4_K}},
		{name: "Q4_K_M tied embeddings", ft: quantplan.Q4KM, m: m, ts: model(256, 512, true), want: map[string]gguf.Type{
			"token_embd.weight": gguf.Q6_K}},
		{name: "Q4_K_M ffn width 640: Q5_0 / Q8_0 fallbacks", ft: quantplan.Q4KM, m: m, ts: model(256, 640, false), want: map[string]gguf.Type{
			"blk.3.ffn_down.weight": gguf.Q5_0, "blk.7.ffn_down.weight": gguf.Q8_0}},
		{name: "Q2_K rows of 64: legacy and F16", ft: quantplan.Q2K, m: m, ts: model(64, 48, false), want: map[string]gguf.Type{
			"blk.0.attn_q.weight": gguf.Q4_0, "blk.0.attn_output.weight": gguf.Q4_0, "output.weight": gguf.Q8_0,
			"blk.0.ffn_down.weight": gguf.F16}},
		{name: "Q3_K_M", ft: quantplan.Q3KM, m: m, ts: model(256, 512, false), want: map[string]gguf.Type{
			"blk.0.attn_v.weight": gguf.Q5_K, "blk.1.attn_v.weight": gguf.Q5_K, "blk.2.attn_v.weight": gguf.Q4_K,
			"blk.0.ffn_down.weight": gguf.Q5_K, "blk.1.ffn_down.weight": gguf.Q4_K, "blk.0.attn_output.weight": gguf.Q4_K}},
		{name: "IQ4_XS GQA 4, no imatrix", ft: quantplan.IQ4XS, m: quantplan.Model{Arch: "llama", NLayer: 16, NHead: 8, NHeadKV: 2}, ts: model(256, 512, false),
			want: map[string]gguf.Type{"blk.0.attn_v.weight": gguf.Q5_K, "blk.1.ffn_down.weight": gguf.Q5_K, "blk.2.ffn_down.weight": gguf.IQ4_XS}},
		{name: "IQ4_XS with imatrix", ft: quantplan.IQ4XS, m: m, ts: model(256, 512, false), o: quantplan.Options{Imatrix: true},
			want: map[string]gguf.Type{"blk.1.ffn_down.weight": gguf.IQ4_XS}},
		{name: "8 experts", ft: quantplan.Q4KM, m: quantplan.Model{Arch: "llama", NLayer: 16, NHead: 8, NHeadKV: 8, NExpert: 8}, ts: model(256, 512, false),
			want: map[string]gguf.Type{"blk.2.attn_v.weight": gguf.Q8_0, "blk.2.attn_k.weight": gguf.Q8_0, "blk.2.attn_output.weight": gguf.Q5_K}},
		{name: "pure", ft: quantplan.Q4KM, m: m, ts: model(256, 512, false), o: quantplan.Options{Pure: true},
			want: map[string]gguf.Type{"output.weight": gguf.Q4_K, "blk.0.attn_v.weight": gguf.Q4_K}},
		{name: "leave output, overrides", ft: quantplan.Q4KM, m: m, ts: model(256, 512, false),
			o: quantplan.Options{LeaveOutput: true, Overrides: []quantplan.Override{{Pattern: regexp.MustCompile(`blk\.1\.attn_v`), Type: gguf.Q8_0}}},
			want: map[string]gguf.Type{"output.weight": gguf.BF16, // An override skips the attn_v counter, as in llama.cpp: blk.5 is the
				// 5th counted attn_v (index 4, use_more_bits), blk.4 the 4th.
				"blk.1.attn_v.weight": gguf.Q8_0, "blk.4.attn_v.weight": gguf.Q4_K, "blk.5.attn_v.weight": gguf.Q6_K}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := quantplan.Plan(tc.ft, tc.m, tc.ts, tc.o)
			require.NoError(t, err)
			byName := map[string]gguf.Type{}
			for i, tt := range tc.ts {
				byName[tt.Name] = got[i]
			}
			for n, want := range tc.want {
				assert.Equal(t, want.String(), byName[n].String(), n)
			}
		})
	}
}

func TestOrderAndNames(t *testing.T) {
	names := []string{"blk.10.attn_q.weight", "output.weight", "blk.2.attn_v.weight", "blk.2.attn_k.weight", "token_embd.weight"}
	var got []string
	for _, i := range quantplan.Order(names) {
		got = append(got, names[i])
	}
	assert.Equal(t, []string{"output.weight", "token_embd.weight", "blk.2.attn_k.weight", "blk.2.attn_v.weight", "blk.10.attn_q.weight"}, got)
	for _, s := range []string{"q4_k_m", "Q4_K", "q4_k_M"} {
		ft, ok := quantplan.ParseFileType(s)
		assert.True(t, ok, s)
		assert.Equal(t, quantplan.Q4KM, ft, s)
	}
	_, ok := quantplan.ParseFileType("q4_0")
	assert.False(t, ok)
	_, err := quantplan.ParseOverride("attn_q")
	assert.ErrorIs(t, err, quantplan.ErrPlan)
	ov, err := quantplan.ParseOverride("ATTN_Q=Q8_0")
	require.NoError(t, err)
	assert.True(t, ov.Pattern.MatchString("blk.0.attn_q.weight"))
	assert.Equal(t, gguf.Q8_0, ov.Type)
}
