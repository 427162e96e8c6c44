package family

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// TestConfigEditsTF4 checks the families' rewrites of transformers-5
// config spellings into the ones mlx-lm's ModelArgs read.
func TestConfigEditsTF4(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(*pyjson.Object)
		in, want string
	}{
		{"granitemoehybrid layer_types and time_step_limit", granitemoehybridTF4,
			`{"layer_types": ["linear_attention", "full_attention"], "time_step_limit": [0.0, {"__float__": "Infinity"}]}`,
			`{"layer_types": ["mamba", "attention"]}`},
		{"granitemoehybrid transformers-4 config unchanged", granitemoehybridTF4,
			`{"layer_types": ["mamba", "attention"], "time_step_limit": [0.001, 100.0]}`,
			`{"layer_types": ["mamba", "attention"], "time_step_limit": [0.001, 100.0]}`},
		{"gemma3n per-layer-type ropes", gemma3nTF4,
			`{"text_config": {"rope_parameters": {"full_attention": {"rope_theta": 1000000.0, "rope_type": "default"}, "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}}}`,
			`{"text_config": {"rope_parameters": {"full_attention": {"rope_theta": 1000000.0, "rope_type": "default"}, "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "rope_scaling": null}}`},
		{"gemma3n scaled rope left", gemma3nTF4,
			`{"text_config": {"rope_parameters": {"full_attention": {"rope_theta": 1.0, "rope_type": "yarn"}, "sliding_attention": {"rope_theta": 2.0, "rope_type": "default"}}}}`,
			`{"text_config": {"rope_parameters": {"full_attention": {"rope_theta": 1.0, "rope_type": "yarn"}, "sliding_attention": {"rope_theta": 2.0, "rope_type": "default"}}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := pyjson.Parse([]byte(tc.in))
			require.NoError(t, err)
			tc.edit(v.(*pyjson.Object))
			got, err := pyjson.Marshal(v)
			require.NoError(t, err)
			w, err := pyjson.Parse([]byte(tc.want))
			require.NoError(t, err)
			exp, err := pyjson.Marshal(w)
			require.NoError(t, err)
			assert.Equal(t, string(exp), string(got))
		})
	}
}
