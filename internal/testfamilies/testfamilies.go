// Package testfamilies reads the tiny test models of every supported family
// from testdata/families/*.json (schema: testdata/families/README.md), the
// files the Python oracle generators (scripts/oracle/families.py) read too.
// It is for tests only: the files are read from the source tree.
package testfamilies

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Family is one testdata/families/NAME.json. Sections a reader does not
// know are ignored (the Python oracle sections convert_oracle and
// llama_oracle are read by scripts/oracle/families.py).
type Family struct {
	Family    string   `json:"family"`
	GoConvert *Section `json:"go_convert"`
	GoExport  *Section `json:"go_export"`
}

// Section describes one test model: its config.json (as written, byte for
// byte, when Config is written out as is), the weight layout and its
// options, the storage dtype, the tokenizer kind, extra files and the
// number of safetensors shards.
type Section struct {
	Name      string            `json:"name"` // model name, when it differs from the family's
	Layout    string            `json:"layout"`
	Options   Options           `json:"layout_options"`
	DType     string            `json:"dtype"`
	Tokenizer string            `json:"tokenizer"`
	Shards    int               `json:"shards"`
	Files     map[string]string `json:"files"`
	Config    json.RawMessage   `json:"config"`
	// AddedTokens are special tokens appended to go_export's BPE tokenizer
	// (after its own two), for vocabularies the converter looks up by name.
	AddedTokens []string `json:"added_tokens"`
}

// Options are the switches of a weight layout (which tensors exist); the
// dimensions come from the config.
type Options struct {
	LMHead         bool   `json:"lm_head"`          // lm_head.weight present
	Bias           bool   `json:"bias"`             // q/k/v projection biases
	OBias          bool   `json:"o_bias"`           // o_proj biases (after every layer's tensors)
	QKNorm         bool   `json:"qk_norm"`          // q_norm/k_norm
	GemmaNorms     bool   `json:"gemma_norms"`      // pre/post feed-forward norms besides the two usual ones
	InvFreq        bool   `json:"inv_freq"`         // float32 rotary_emb.inv_freq buffers
	FinalNormDType string `json:"final_norm_dtype"` // model.norm's dtype when it differs
	PatchSize      int    `json:"patch_size"`       // vision patch size (multimodal wrappers)
	DenseLayers    []int  `json:"dense_layers"`     // MoE layouts: layers with a dense MLP instead of experts
	// go_export only:
	QKNormFull bool     `json:"qk_norm_full"` // q_norm/k_norm over all heads (heads·head_dim, kv·head_dim), OLMo 2
	Norms      []string `json:"norms"`        // the per-layer norms, when not input_layernorm and post_attention_layernorm
	FusedMLP   bool     `json:"fused_mlp"`    // mlp.gate_up_proj [2·intermediate, hidden] instead of gate_proj and up_proj
}

// Dir is testdata/families in the source tree.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "families")
}

// Load reads testdata/families/name.json.
func Load(name string) (*Family, error) {
	b, err := os.ReadFile(filepath.Join(Dir(), name+".json"))
	if err != nil {
		return nil, err
	}
	var f Family
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("testdata/families/%s.json: %w", name, err)
	}
	if f.Family != name {
		return nil, fmt.Errorf("testdata/families/%s.json: family is %q", name, f.Family)
	}
	return &f, nil
}

// All reads every family file, by name.
func All() (map[string]*Family, error) {
	ents, err := os.ReadDir(Dir())
	if err != nil {
		return nil, err
	}
	out := map[string]*Family{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		f, err := Load(name)
		if err != nil {
			return nil, err
		}
		out[name] = f
	}
	return out, nil
}

// Names returns the sorted names of the families in m.
func Names(m map[string]*Family) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConfigMap decodes the section's config (numbers as float64).
func (s *Section) ConfigMap() (map[string]any, error) {
	var c map[string]any
	err := json.Unmarshal(s.Config, &c)
	return c, err
}
