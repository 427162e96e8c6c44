package family

import (
	"fmt"
	"testing"

	"github.com/mlxconv/mlxconv/gguf"

	"github.com/mlxconv/mlxconv/internal/pyjson"
	"github.com/mlxconv/mlxconv/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ggufHParams parses a config.json for the GGUF side of family tests.
func ggufHParams(t *testing.T, cfg string) (*model.HParams, *model.Rope) {
	t.Helper()
	v, err := pyjson.Parse([]byte(cfg))
	require.NoError(t, err)
	o, ok := v.(*pyjson.Object)
	require.True(t, ok)
	h := model.NewHParams(o, HFConfig, "")
	rope, err := model.NewRope(h)
	require.NoError(t, err)
	return h, rope
}

// TestLlama3RopeFreqsDefaultFactor: a llama3 rope_scaling without a
// factor gives the low frequencies LlamaModel's 8 and Exaone4Model's 16.
func TestLlama3RopeFreqsDefaultFactor(t *testing.T) {
	const cfg = `{"model_type": "%s", "hidden_size": 64, "num_attention_heads": 4, "head_dim": 16, "num_hidden_layers": 2,
"rope_theta": 1000000.0, "rope_scaling": {"rope_type": "llama3", "original_max_position_embeddings": 64}}`
	for _, tc := range []struct {
		mt    string
		extra func(*model.HParams, *model.Rope) ([]model.ExtraTensor, []gguf.KV, error)
		want  float32
	}{
		{"llama", llamaExtra, 8},
		{"exaone4", exaone4Extra, 16},
	} {
		t.Run(tc.mt, func(t *testing.T) {
			h, rope := ggufHParams(t, fmt.Sprintf(cfg, tc.mt))
			ts, _, err := tc.extra(h, rope)
			require.NoError(t, err)
			require.Len(t, ts, 1)
			assert.Equal(t, "rope_freqs.weight", ts[0].Name)
			require.Len(t, ts[0].Values, 8)
			assert.Equal(t, float32(1), ts[0].Values[0])
			assert.Equal(t, tc.want, ts[0].Values[7])
		})
	}
}
