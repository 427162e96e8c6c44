package ggufexport

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/oracle"
)

// svFixture is a model directory and the SpecialVocab parameters to read
// it with.
type svFixture struct {
	name       string
	files      map[string]string
	dir        string // instead of files
	nVocab     int    // < 0: None
	loadMerges bool
	types      []string
}

const svAdded = `[{"id": 0, "content": "<s>", "special": true}, {"id": 1, "content": "</s>", "special": true},
	{"id": 2, "content": "<|end|>", "special": true}, {"id": 3, "content": "<sep>", "special": true},
	{"id": 4, "content": "<cls>", "special": true}]`

func svTokenizerJSON(post string, extra string) string {
	return `{"added_tokens": ` + svAdded + `, "post_processor": ` + post + extra + `}`
}

// specialVocabFixtures covers the SpecialVocab rules: post-processor kinds,
// tokenizer_config forms, config.json fallbacks, chat template sources,
// merges formats and normalizer flags.
func specialVocabFixtures(t *testing.T) []svFixture {
	vocab, merges := tinyBPE(nil)
	pairVocab, _ := tinyBPE(map[string]int{"a b": 99, "a bc": 100})
	pairs := [][]string{{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"Ġ", "a"}, {"a b", "c"}}
	vj, err := json.Marshal(vocab)
	require.NoError(t, err)
	tmpl := func(single, pair string) string {
		return `{"type": "TemplateProcessing", "single": ` + single + `, "pair": ` + pair + `, "special_tokens": {}}`
	}
	st := func(id string) string { return `{"SpecialToken": {"id": "` + id + `", "type_id": 0}}` }
	seq := func(id string) string { return `{"Sequence": {"id": "` + id + `", "type_id": 0}}` }
	list := func(items ...string) string {
		s := "["
		for i, x := range items {
			if i > 0 {
				s += ", "
			}
			s += x
		}
		return s + "]"
	}
	return []svFixture{
		{name: "roberta", nVocab: 9, files: map[string]string{
			"tokenizer.json":        svTokenizerJSON(`{"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0]}`, ""),
			"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": "</s>"}`}},
		{name: "roberta without cls/sep", nVocab: 9, files: map[string]string{
			"tokenizer.json":        svTokenizerJSON(`{"type": "RobertaProcessing", "sep": ["<sep>", 3], "cls": ["<cls>", 4]}`, ""),
			"tokenizer_config.json": `{"eos_token": "</s>", "model_max_length": 512}`}},
		{name: "template trailing eos", nVocab: 9, files: map[string]string{
			"tokenizer.json":        svTokenizerJSON(tmpl(list(st("<s>"), seq("A"), st("<|end|>")), `[]`), ""),
			"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": "</s>"}`}},
		{name: "template trailing eos twice", nVocab: 9, types: []string{"bos", "eos", "eot"}, files: map[string]string{
			"tokenizer.json":        svTokenizerJSON(tmpl(list(st("<s>"), seq("A"), st("<|end|>")), `[]`), ""),
			"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": "</s>", "eot_token": "<sep>"}`}},
		{name: "template leading cls", nVocab: 9, files: map[string]string{
			"tokenizer.json":        svTokenizerJSON(tmpl(list(st("<cls>"), seq("A"), st("</s>")), list(st("<cls>"), seq("A"), st("<sep>"), st("</s>"), seq("B"), st("</s>"))), ""),
			"tokenizer_config.json": `{"eos_token": {"content": "</s>", "lstrip": false}, "sep_token": "<sep>"}`}},
		{name: "template pair separator", nVocab: 9, files: map[string]string{
			"tokenizer.json": svTokenizerJSON(`{"type": "Sequence", "processors": [{"type": "ByteLevel"}, `+
				tmpl(list(st("<s>"), seq("A")), list(st("<s>"), seq("A"), st("<sep>"), seq("B")))+`]}`, ""),
			"tokenizer_config.json": `{"bos_token": "<s>", "sep_token": "<sep>", "add_eos_token": true}`}},
		{name: "template without tokenizer_config", nVocab: 9, files: map[string]string{
			"tokenizer.json": svTokenizerJSON(tmpl(list(st("<s>"), seq("A"), st("</s>")), list(st("<s>"), seq("A"), st("</s>"), seq("B"), st("</s>"))), "")}},
		{name: "bytelevel and config flags", nVocab: 9, files: map[string]string{
			"tokenizer.json":        svTokenizerJSON(`{"type": "ByteLevel"}`, ""),
			"tokenizer_config.json": `{"add_bos_token": true, "add_eos_token": false, "add_sep_token": true, "bos_token": {"content": "<s>"}, "pad_token": "<sep>", "mask_token": "<nope>"}`}},
		{name: "config json ids", nVocab: 9, files: map[string]string{
			"tokenizer_config.json": `{"bos_token": "<s>"}`,
			"config.json":           `{"bos_token_id": 1.0, "eos_token_id": true, "unk_token_id": 42, "text_config": {"pad_token_id": 3, "sep_token_id": [0]}}`}},
		{name: "normalizers", nVocab: -1, files: map[string]string{
			"tokenizer.json": `{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "BertNormalizer", "lowercase": false, "strip_accents": null}, {"type": "StripAccents"}]}}`}},
		{name: "chat template string", nVocab: 9, files: map[string]string{
			"tokenizer_config.json": `{"chat_template": "C"}`, "chat_template.jinja": "J"}},
		{name: "chat template jinja", nVocab: 9, files: map[string]string{
			"tokenizer_config.json": `{"x": 1}`, "chat_template.jinja": "J"}},
		{name: "chat template additional", nVocab: 9, files: map[string]string{
			"tokenizer_config.json": `{"x": 1}`, "chat_template.jinja": "J", "additional_chat_templates/tool-use.jinja": "T"}},
		{name: "chat template json", nVocab: 9, files: map[string]string{
			"tokenizer_config.json": `{"x": 1}`, "chat_template.json": `{"chat_template": "JS"}`}},
		{name: "chat template list", nVocab: 9, files: map[string]string{
			"tokenizer_config.json": `{"chat_template": [{"name": "default", "template": "D"}, {"name": "rag", "template": "R"}]}`}},
		{name: "chat template without config", nVocab: 9, files: map[string]string{"chat_template.jinja": "J"}},
		{name: "chat template empty config", nVocab: 9, files: map[string]string{"tokenizer_config.json": `{}`, "chat_template.jinja": "J"}},
		{name: "chat template null", nVocab: 9, files: map[string]string{"tokenizer_config.json": `{"chat_template": null}`, "chat_template.jinja": "J"}},
		{name: "merges strings", nVocab: -1, loadMerges: true, files: map[string]string{
			"tokenizer.json": tokenizerJSON(t, vocab, merges, nil, "")}},
		{name: "merges pairs", nVocab: -1, loadMerges: true, files: map[string]string{
			"tokenizer.json": tokenizerJSON(t, pairVocab, pairs, nil, "")}},
		{name: "merges.txt", nVocab: -1, loadMerges: true, files: map[string]string{
			"vocab.json": string(vj), "merges.txt": "#version: 0.2\r\nĠ t\r\n\n  h   e  \nbad\nx y z\n", "config.json": `{"bos_token_id": 0}`}},
		{name: "gemma extra", nVocab: -1, types: []string{"prefix", "suffix", "middle", "fsep", "eot"}, files: map[string]string{
			"tokenizer.json":        svTokenizerJSON(tmpl(list(st("<s>"), seq("A")), `[]`), ""),
			"tokenizer_config.json": `{"bos_token": "<s>", "eot_token": "<|end|>", "chat_template": "x"}`}},
		{name: "tiny-bpe", nVocab: -1, loadMerges: true, dir: filepath.Join("testdata", "tokenizer", "tiny-bpe")},
	}
}

func (f svFixture) path(t *testing.T) string {
	if f.dir != "" {
		d, err := filepath.Abs(f.dir)
		require.NoError(t, err)
		return d
	}
	return writeFiles(t, f.files)
}

// TestSpecialVocabOracle runs llama.cpp's gguf-py SpecialVocab and the Go
// port on the same directories and compares their state.
func TestSpecialVocabOracle(t *testing.T) {
	npm := oracle.Env(t, "MLXCONV_ORACLE_NPM")
	py := oracle.Python(t)
	fixtures := specialVocabFixtures(t)
	type request struct {
		Dir        string   `json:"dir"`
		LoadMerges bool     `json:"load_merges"`
		NVocab     *int     `json:"n_vocab"`
		Types      []string `json:"types"`
	}
	var reqs []request
	dirs := make([]string, len(fixtures))
	for i, f := range fixtures {
		dirs[i] = f.path(t)
		r := request{Dir: dirs[i], LoadMerges: f.loadMerges, Types: f.types}
		if f.nVocab >= 0 {
			n := f.nVocab
			r.NVocab = &n
		}
		reqs = append(reqs, r)
	}
	b, err := json.Marshal(reqs)
	require.NoError(t, err)
	reqPath := filepath.Join(t.TempDir(), "requests.json")
	require.NoError(t, os.WriteFile(reqPath, b, 0o644))
	script, err := filepath.Abs(filepath.Join("..", "scripts", "oracle", "special_vocab.py"))
	require.NoError(t, err)
	t.Setenv("PYTHONPATH", filepath.Join(npm, "gguf-py"))
	var ref []struct {
		Merges       []string `json:"merges"`
		IDs          [][2]any `json:"ids"`
		Add          [][2]any `json:"add"`
		ChatTemplate any      `json:"chat_template"`
		Lowercase    *bool    `json:"lowercase"`
		StripAccents *bool    `json:"strip_accents"`
		Types        []string `json:"types"`
	}
	require.NoError(t, json.Unmarshal(oracle.Run(t, script, reqPath), &ref))
	require.Len(t, ref, len(fixtures))
	_ = py
	// canon compares JSON shapes with [] equal to null; a Python bool id
	// (True is an int there) is written as UINT32 1, as ours is.
	canon := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var x any
		require.NoError(t, json.Unmarshal(b, &x))
		if l, ok := x.([]any); ok && len(l) == 0 {
			x = nil
		}
		b, err = json.Marshal(x)
		require.NoError(t, err)
		return string(b)
	}
	for i, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			l := &vocabLoader{d: modelDir{dir: dirs[i]}, v: &ggufVocab{}}
			sv := newSpecialVocab(l, f.types, f.nVocab, f.loadMerges)
			require.NoError(t, sv.load())
			want := ref[i]
			if len(want.Merges) == 0 {
				want.Merges = nil
			}
			assert.Equal(t, want.Merges, sv.merges, "merges")
			var ids, add [][2]any
			for _, x := range sv.ids {
				ids = append(ids, [2]any{x.kind, float64(x.id)})
			}
			for _, x := range sv.add {
				add = append(add, [2]any{x.kind, x.on})
			}
			for j := range want.IDs {
				if b, ok := want.IDs[j][1].(bool); ok {
					want.IDs[j][1] = map[bool]float64{false: 0, true: 1}[b]
				}
			}
			assert.Equal(t, canon(want.IDs), canon(ids), "special ids")
			assert.Equal(t, canon(want.Add), canon(add), "add flags")
			assert.Equal(t, canon(want.ChatTemplate), canon(sv.chatTemplate), "chat template")
			assert.Equal(t, want.Lowercase, sv.normLowercase, "lowercase")
			assert.Equal(t, want.StripAccents, sv.normStrip, "strip accents")
			assert.Equal(t, want.Types, sv.types, "types")
		})
	}
}
