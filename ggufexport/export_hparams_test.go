package ggufexport

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// exportMetaErr runs the metadata stages of the export (hyperparameters,
// rope parameters, the architecture's set_gguf_parameters and generated
// tensors) on a config.json text.
func exportMetaErr(t *testing.T, cfgJSON string) error {
	t.Helper()
	v, err := pyjson.Parse([]byte(cfgJSON))
	require.NoError(t, err)
	cfg := v.(*pyjson.Object)
	mt, _ := cfg.Get("model_type")
	a := lookupArch(mt.(string))
	require.NotNil(t, a, mt)
	h := newHParams(cfg)
	rope, err := newRopeParams(h)
	if err != nil {
		return err
	}
	m := &metaWriter{Arch: a.Arch, H: h, Rope: rope, BlockCount: 2}
	if err := a.Params(m); err != nil {
		return err
	}
	_, _, err = extraTensors(a, h, rope)
	return err
}

// TestExportConfigWrongType checks that a config.json value of the wrong
// type (or range) for a key the GGUF export reads is an error naming the
// config field as written, for every kind of value (number, integer, bool,
// string, list, object), instead of a GGUF silently without the key or an
// error under the GGUF key's name.
func TestExportConfigWrongType(t *testing.T) {
	llama := `"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "vocab_size": 100,
		"max_position_embeddings": 4096, "rope_theta": 10000.0`
	phi3 := `"model_type": "phi3", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-5, "vocab_size": 100,
		"max_position_embeddings": 8192, "original_max_position_embeddings": 4096, "rope_theta": 10000.0`
	phi3Factors := `[1, 1, 1, 1, 1, 1, 1, 1]`
	gemma3 := `"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100`
	qwenMoE := `"model_type": "qwen2_moe", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "vocab_size": 100, "num_experts": 4`

	// The base configs export without an error.
	for _, c := range []string{"{" + llama + "}", "{" + gemma3 + "}}", "{" + qwenMoE + "}",
		"{" + phi3 + `, "rope_scaling": {"type": "longrope", "long_factor": ` + phi3Factors + `, "short_factor": ` + phi3Factors + `}}`} {
		require.NoError(t, exportMetaErr(t, c), c)
	}

	for _, tc := range []struct {
		name, cfg, field, want string
	}{
		// number
		{"rope_theta string", "{" + llama + `, "rope_theta": "big"}`, "rope_theta", `want a number, got string "big"`},
		{"rms_norm_eps bool", "{" + llama + `, "rms_norm_eps": true}`, "rms_norm_eps", "want a number, got bool true"},
		{"rope_scaling factor", "{" + llama + `, "rope_scaling": {"rope_type": "linear", "factor": "2"}}`, "rope_scaling.factor", `want a number, got string "2"`},
		{"llama3 low_freq_factor", "{" + llama + `, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": [1]}}`, "rope_scaling.low_freq_factor", "want a number, got a list"},
		{"yarn beta_fast", "{" + llama + `, "rope_scaling": {"rope_type": "yarn", "factor": 2, "original_max_position_embeddings": 4096, "beta_fast": "x"}}`, "rope_scaling.beta_fast", `want a number, got string "x"`},
		{"sliding rope_theta", "{" + llama + `, "rope_parameters": {"full_attention": {"rope_theta": 1}, "sliding_attention": {"rope_theta": "x"}}}`, "rope_parameters.sliding_attention.rope_theta", `want a number, got string "x"`},
		{"full_attention rope_theta", "{" + llama + `, "rope_parameters": {"full_attention": {"rope_theta": null, "rope_type": 3}}}`, "rope_parameters.full_attention.rope_type", "want a string, got number 3"},
		{"text_config rope_theta", "{" + gemma3 + `, "rope_theta": "big"}}`, "text_config.rope_theta", `want a number, got string "big"`},
		{"local rope theta", "{" + gemma3 + `, "rope_local_base_freq": {}}}`, "text_config.rope_local_base_freq", "want a number, got an object"},
		// integer (a GGUF UINT32)
		{"max_position_embeddings negative", "{" + llama + `, "max_position_embeddings": -5}`, "max_position_embeddings", "want an integer in [0, 4294967295], got number -5"},
		{"max_position_embeddings float", "{" + llama + `, "max_position_embeddings": 4096.5}`, "max_position_embeddings", "got number 4096.5"},
		{"head_dim string", "{" + llama + `, "head_dim": "16"}`, "head_dim", `want an integer in [0, 4294967295], got string "16"`},
		{"gemma3 max_position_embeddings", "{" + gemma3 + `, "max_position_embeddings": -1}}`, "text_config.max_position_embeddings", "got number -1"},
		{"yarn original_max_position_embeddings", "{" + llama + `, "rope_scaling": {"rope_type": "yarn", "factor": 2, "original_max_position_embeddings": "4k"}}`, "rope_scaling.original_max_position_embeddings", `got string "4k"`},
		{"phi3 original_max_position_embeddings", "{" + phi3 + `, "original_max_position_embeddings": -4096}`, "original_max_position_embeddings", "got number -4096"},
		{"num_experts too big", "{" + qwenMoE + `, "num_experts": 4294967296}`, "num_experts", "got number 4294967296"},
		{"phi3 sliding_window", "{" + phi3 + `, "sliding_window": "4k"}`, "sliding_window", `got string "4k"`},
		// bool
		{"is_causal string", "{" + llama + `, "is_causal": "no"}`, "is_causal", `want a bool, got string "no"`},
		// string
		{"rope_type number", "{" + llama + `, "rope_scaling": {"rope_type": 1, "factor": 2}}`, "rope_scaling.rope_type", "want a string, got number 1"},
		{"type list", "{" + llama + `, "rope_scaling": {"type": ["linear"], "factor": 2}}`, "rope_scaling.type", "want a string, got a list"},
		{"scoring_func number", "{" + qwenMoE + `, "scoring_func": 2}`, "scoring_func", "want a string, got number 2"},
		// list
		{"long_factor string", "{" + phi3 + `, "rope_scaling": {"type": "longrope", "long_factor": "x", "short_factor": ` + phi3Factors + `}}`, "rope_scaling.long_factor", `want a list of numbers, got string "x"`},
		{"short_factor element", "{" + phi3 + `, "rope_scaling": {"type": "longrope", "long_factor": ` + phi3Factors + `, "short_factor": [1, 1, 1, "a", 1, 1, 1, 1]}}`, "rope_scaling.short_factor[3]", `want a number, got string "a"`},
		// object
		{"rope_scaling string", "{" + llama + `, "rope_scaling": "linear"}`, "rope_scaling", `want an object, got string "linear"`},
		{"full_attention list", "{" + llama + `, "rope_parameters": {"full_attention": []}}`, "rope_parameters.full_attention", "want an object, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := exportMetaErr(t, tc.cfg)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrExport)
			msg := err.Error()
			assert.Contains(t, msg, fmt.Sprintf("config.json: %q: ", tc.field))
			assert.Contains(t, msg, tc.want)
			assert.NotContains(t, msg, "\n")
			// The GGUF key the value would have filled is not what is named.
			assert.NotContains(t, msg, "context_length")
			assert.False(t, strings.Contains(msg, "llama.") || strings.Contains(msg, "phi3."), msg)
		})
	}
}
