package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
)

func hparamsOf(t *testing.T, js string) *model.HParams {
	t.Helper()
	v, err := pyjson.Parse([]byte(js))
	require.NoError(t, err)
	return model.NewHParams(v.(*pyjson.Object), func(string) *model.HFConfig { return nil }, "")
}

func TestTensorRuleReshape(t *testing.T) {
	h := hparamsOf(t, `{"mamba_n_groups": 2, "n_groups": null}`)
	tests := []struct {
		name  string
		rule  model.TensorRule
		shape []int
		want  []int
		err   string
	}{
		{"none", model.TensorRule{}, []int{3, 4}, []int{3, 4}, ""},
		{"squeeze MLX conv1d", model.TensorRule{Squeeze: true}, []int{160, 4, 1}, []int{160, 4}, ""},
		{"squeeze HF conv1d", model.TensorRule{Squeeze: true}, []int{160, 1, 4}, []int{160, 4}, ""},
		{"column", model.TensorRule{Column: true}, []int{8}, []int{8, 1}, ""},
		{"column of 2-D", model.TensorRule{Column: true}, []int{8, 2}, nil, "a column of a 2-D tensor"},
		{"groups: a null key stops the search", model.TensorRule{Groups: []string{"n_groups", "mamba_n_groups"}}, []int{128}, nil, "n_groups"},
		{"groups", model.TensorRule{Groups: []string{"num_groups", "mamba_n_groups"}}, []int{128}, []int{2, 64}, ""},
		{"groups do not divide", model.TensorRule{Groups: []string{"mamba_n_groups"}}, []int{127}, nil, "does not split into 2 groups"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rule.Reshape(h, "x", tc.shape)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestPadVocab(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		def       int64
		useConfig bool
		n, want   int64
	}{
		{"fixed multiple ignores the config", `{"pad_vocab_size_multiple": 16}`, 8, false, 151669, 151672},
		{"config multiple", `{"pad_vocab_size_multiple": 16}`, 8, true, 151669, 151680},
		{"default when absent", `{}`, 16, true, 33, 48},
		{"already a multiple", `{}`, 8, false, 64, 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.PadVocab(tc.def, tc.useConfig)(hparamsOf(t, tc.config))
			require.NoError(t, err)
			assert.Equal(t, tc.want, model.RoundUp(tc.n, m))
		})
	}
	_, err := model.PadVocab(8, true)(hparamsOf(t, `{"pad_vocab_size_multiple": 0}`))
	assert.ErrorIs(t, err, model.ErrExport)
}

func TestLayerArrayAndWithout(t *testing.T) {
	h := hparamsOf(t, `{"head_dim": 16, "hidden_size": 64}`)
	m := &model.Meta{Arch: "a", H: h}
	require.NoError(t, m.LayerArray("attention.head_count_kv", 3, 2, func(l int) bool { return l == 1 }))
	require.Len(t, m.KVs.List, 1)
	assert.Equal(t, "a.attention.head_count_kv", m.KVs.List[0].Key)
	assert.Equal(t, gguf.NewValue([]int32{0, 2, 0}), m.KVs.List[0].Value) // gguf-py's type for a list of ints
	assert.ErrorIs(t, m.LayerArray("x", 1, 1<<31, func(int) bool { return true }), model.ErrExport)

	w := h.Without("head_dim")
	assert.False(t, w.Has("head_dim"))
	assert.True(t, w.Has("hidden_size"))
	assert.True(t, h.Has("head_dim"), "the original keeps the key")
}
