package ggufexport

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mlxconv/mlxconv/internal/pyjson"
)

// FuzzExportConfig feeds hostile config.json objects to the metadata
// stages (hyperparameters, rope parameters, every architecture's
// set_gguf_parameters and generated tensors): errors, never panics or
// unbounded allocations.
func FuzzExportConfig(f *testing.F) {
	f.Add(`{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 10,
"rope_scaling": {"rope_type": "llama3", "factor": 8, "original_max_position_embeddings": 64}}`)
	f.Add(`{"model_type": "phi3", "hidden_size": 64, "num_attention_heads": 4, "max_position_embeddings": 8192,
"rope_scaling": {"type": "longrope", "long_factor": [1, 2], "short_factor": [1, 1]}}`)
	f.Add(`{"model_type": "gemma3", "text_config": {"head_dim": null, "sliding_window_pattern": 1, "rope_scaling": {"rope_type": "yarn", "factor": 2}}}`)
	f.Add(`{"model_type": "qwen2_moe", "num_experts": 4, "scoring_func": "sigmoid", "rope_parameters": {"full_attention": {"rope_theta": 1}, "sliding_attention": {"rope_theta": 2}}}`)
	f.Add(`{"model_type": "gemma2", "head_dim": 1e300, "num_key_value_heads": -1, "rms_norm_eps": "x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := pyjson.Parse([]byte(s))
		if err != nil {
			return
		}
		cfg, ok := v.(*pyjson.Object)
		if !ok {
			return
		}
		h := newHParams(cfg)
		rope, err := newRopeParams(h)
		if err != nil {
			return
		}
		for _, mt := range exportModelTypes() {
			a := lookupArch(mt)
			m := &metaWriter{Arch: a.Arch, H: h, Rope: rope, BlockCount: 2}
			_ = a.Params(m)
			_, _, _ = extraTensors(a, h, rope)
		}
	})
}

// FuzzModelCard parses arbitrary README.md front matter and derives the
// general.* metadata from it and from names.
func FuzzModelCard(f *testing.F) {
	f.Add("---\nlicense: apache-2.0\ntags:\n- mlx\n- 'a'\nbase_model: [org/Model-7B-Instruct-v0.2, https://huggingface.co/a/b]\nlanguage: en\n---\n# x\n", "Qwen3-30B-A3B-Instruct-2507")
	f.Add("---\nname: \"x\\u00e9\"\ndatasets:\n  - d/e\n---", "bloom-7b1")
	f.Add("---\n-\n:\n[\n", "-.-")
	f.Fuzz(func(t *testing.T, card, id string) {
		c := parseModelCard(card)
		for k, v := range c {
			assert.NotEmpty(t, k)
			_ = cardItems(v)
		}
		for _, n := range []int64{0, 7e9, -5} {
			comp := modelIDComponents(id, n)
			if comp.full != nil {
				_ = idToTitle(*comp.full)
			}
			_ = sourceEntry(id, n, "")
		}
	})
}

// TestModelIDComponents checks gguf-py's name heuristics on known names.
func TestModelIDComponents(t *testing.T) {
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	for _, tc := range []struct {
		id                                            string
		params                                        int64
		full, org, base, finetune, version, sizeLabel string
	}{
		// Expectations from gguf-py's Metadata.get_model_id_components.
		{"meta-llama/Llama-2-7b-hf", 7e9, "Llama-2-7b-hf", "meta-llama", "Llama-2", "hf", "<nil>", "7B"},
		{"mistralai/Mistral-7B-Instruct-v0.2", 7e9, "Mistral-7B-Instruct-v0.2", "mistralai", "Mistral", "Instruct", "v0.2", "7B"},
		{"Qwen/Qwen3-30B-A3B", 30e9, "Qwen3-30B-A3B", "Qwen", "Qwen3", "<nil>", "<nil>", "30B-A3B"},
		{"bigscience/bloom-7b1", 7e9, "bloom-7b1", "bigscience", "bloom", "<nil>", "<nil>", "7.1B"},
		{"llama", 1e6, "llama", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>"},
		{"./qwen2_moe", 1e6, "qwen2_moe", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>"},
		{"Some Model", 0, "Some Model", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>"},
		{"Qwen3-30B-A3B-Instruct-2507", 30e9, "Qwen3-30B-A3B-Instruct-2507", "<nil>", "Qwen3", "Instruct", "2507", "30B-A3B"},
		{"Meta-Llama-3.1-8B-Instruct", 8e9, "Meta-Llama-3.1-8B-Instruct", "<nil>", "Meta-Llama-3.1", "Instruct", "<nil>", "8B"},
		{"gemma-2-9b-it", 9e9, "gemma-2-9b-it", "<nil>", "gemma-2", "it", "<nil>", "9B"},
		{"Phi-3-mini-4k-instruct", 3.8e9, "Phi-3-mini-4k-instruct", "<nil>", "Phi-3", "4k-instruct", "<nil>", "mini"},
		{"Mixtral-8x7B-v0.1", 46e9, "Mixtral-8x7B-v0.1", "<nil>", "Mixtral", "<nil>", "v0.1", "8x7B"},
	} {
		c := modelIDComponents(tc.id, tc.params)
		assert.Equal(t, []string{tc.full, tc.org, tc.base, tc.finetune, tc.version, tc.sizeLabel},
			[]string{str(c.full), str(c.org), str(c.basename), str(c.finetune), str(c.version), str(c.sizeLabel)}, tc.id)
	}
	assert.Equal(t, "Qwen2_Moe Q4", idToTitle("qwen2_moe-q4"))
	assert.Equal(t, "Llama 2 7b Hf", idToTitle("llama-2-7b-hf"))
	assert.Equal(t, "v0.2 Mistral", idToTitle("v0.2-mistral"))
	assert.Equal(t, "4x20M", sizeLabel(paramCounts{total: 80e6, shared: 4e6, expert: 16e6, expertCount: 4}))
	assert.Equal(t, "8.4M", weightCountNotation(8_384_512, 2))
	assert.Equal(t, "471K", weightCountNotation(471_104, 2))
	assert.Equal(t, "1.2B", weightCountNotation(1_235_814_400, 2))
}
