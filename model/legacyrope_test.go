package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// TestAddLegacyRope checks the rope keys mlxconv adds to a transformers-5
// config.json for mlx-lm's model files (which read rope_theta and
// rope_scaling, not rope_parameters).
func TestAddLegacyRope(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"llama3 rope_parameters",
			`{"rope_parameters": {"factor": 32.0, "rope_theta": 500000.0, "rope_type": "llama3"}}`,
			`{"rope_parameters": {"factor": 32.0, "rope_theta": 500000.0, "rope_type": "llama3"}, "rope_theta": 500000.0, "rope_scaling": {"factor": 32.0, "rope_type": "llama3"}}`},
		{"default rope_type: rope_theta only",
			`{"rope_parameters": {"rope_theta": 1000000, "rope_type": "default"}}`,
			`{"rope_parameters": {"rope_theta": 1000000, "rope_type": "default"}, "rope_theta": 1000000, "rope_scaling": null}`},
		{"transformers-4 keys kept",
			`{"rope_parameters": {"rope_theta": 1.0, "rope_type": "yarn"}, "rope_theta": 2.0, "rope_scaling": {"type": "linear"}}`,
			`{"rope_parameters": {"rope_theta": 1.0, "rope_type": "yarn"}, "rope_theta": 2.0, "rope_scaling": {"type": "linear"}}`},
		{"null rope_scaling replaced",
			`{"rope_parameters": {"rope_theta": 1.0, "rope_type": "yarn", "factor": 4.0}, "rope_scaling": null}`,
			`{"rope_parameters": {"rope_theta": 1.0, "rope_type": "yarn", "factor": 4.0}, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}, "rope_theta": 1.0}`},
		{"one per-layer-type rope_parameters",
			`{"rope_parameters": {"full_attention": {"rope_theta": 1.0, "rope_type": "default"}}}`,
			`{"rope_parameters": {"full_attention": {"rope_theta": 1.0, "rope_type": "default"}}, "rope_theta": 1.0, "rope_scaling": null}`},
		{"partial_rotary_factor lifted, not in rope_scaling",
			`{"rope_parameters": {"partial_rotary_factor": 0.5, "rope_theta": 1.0, "rope_type": "yarn", "factor": 4.0}}`,
			`{"rope_parameters": {"partial_rotary_factor": 0.5, "rope_theta": 1.0, "rope_type": "yarn", "factor": 4.0}, "rope_theta": 1.0, "partial_rotary_factor": 0.5, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}`},
		{"top-level partial_rotary_factor kept",
			`{"partial_rotary_factor": 0.25, "rope_parameters": {"partial_rotary_factor": 0.5, "rope_theta": 1.0, "rope_type": "default"}}`,
			`{"partial_rotary_factor": 0.25, "rope_parameters": {"partial_rotary_factor": 0.5, "rope_theta": 1.0, "rope_type": "default"}, "rope_theta": 1.0, "rope_scaling": null}`},
		{"text_config too",
			`{"text_config": {"rope_parameters": {"rope_theta": 1e9, "rope_type": "default"}}}`,
			`{"text_config": {"rope_parameters": {"rope_theta": 1e9, "rope_type": "default"}, "rope_theta": 1e9, "rope_scaling": null}}`},
		{"equal per-layer-type rope_parameters",
			`{"rope_parameters": {"full_attention": {"rope_theta": 5.0, "rope_type": "default"}, "sliding_attention": {"rope_theta": 5.0, "rope_type": "default"}}}`,
			`{"rope_parameters": {"full_attention": {"rope_theta": 5.0, "rope_type": "default"}, "sliding_attention": {"rope_theta": 5.0, "rope_type": "default"}}, "rope_theta": 5.0, "rope_scaling": null}`},
		{"per-layer-type rope_parameters equal by value",
			`{"rope_parameters": {"full_attention": {"rope_theta": 500000, "rope_type": "default"}, "sliding_attention": {"rope_theta": 500000.0, "rope_type": "default"}}}`,
			`{"rope_parameters": {"full_attention": {"rope_theta": 500000, "rope_type": "default"}, "sliding_attention": {"rope_theta": 500000.0, "rope_type": "default"}}, "rope_theta": 500000, "rope_scaling": null}`},
		{"different per-layer-type rope_parameters untouched",
			`{"rope_parameters": {"full_attention": {"rope_theta": 5.0, "rope_type": "default"}, "sliding_attention": {"rope_theta": 1.0, "rope_type": "default"}}}`,
			`{"rope_parameters": {"full_attention": {"rope_theta": 5.0, "rope_type": "default"}, "sliding_attention": {"rope_theta": 1.0, "rope_type": "default"}}}`},
		{"no rope_parameters",
			`{"rope_theta": 10000.0}`,
			`{"rope_theta": 10000.0}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := pyjson.Parse([]byte(tc.in))
			require.NoError(t, err)
			c := v.(*pyjson.Object)
			AddLegacyRope(c)
			want, err := pyjson.Parse([]byte(tc.want))
			require.NoError(t, err)
			w := want.(*pyjson.Object)
			c.SortKeys()
			w.SortKeys()
			got, err := pyjson.Marshal(c)
			require.NoError(t, err)
			exp, err := pyjson.Marshal(w)
			require.NoError(t, err)
			assert.Equal(t, string(exp), string(got))
		})
	}
}
