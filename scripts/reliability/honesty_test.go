package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tokenizer and config honesty (issue #11 point 6): a tokenizer HF
// tokenizers refuses, a config.json value of the wrong type for a key the
// GGUF needs, and a config/checkpoint quantization contradiction are
// one-line errors naming the file and field, with or without --pre; no
// input byte changes and nothing is left behind.

// editJSON rewrites dir/name through edit (a generic JSON object).
func editJSON(t *testing.T, dir, name string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	edit(doc)
	b, err = json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b, 0o644))
}

// byteLevelModel is tinyModel with a byte-level BPE tokenizer (the gguf
// package's tiny-bpe fixture, whose pre-tokenizer llama.cpp does not know:
// it exports with --pre).
func byteLevelModel(t testing.TB) string {
	t.Helper()
	src := tinyModel(t)
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "ggufexport", "testdata", "tokenizer", "tiny-bpe", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(src, name), b, 0o644))
	}
	return src
}

func model(doc map[string]any) map[string]any { return doc["model"].(map[string]any) }

// appendMerge adds a merge of parts to tokenizer.json in the file's own
// format ("a b" strings, or [a, b] lists as tiny-bpe has).
func appendMerge(tok map[string]any, parts ...string) {
	ms := model(tok)["merges"].([]any)
	if _, isList := ms[0].([]any); isList {
		var p []any
		for _, x := range parts {
			p = append(p, x)
		}
		model(tok)["merges"] = append(ms, p)
		return
	}
	s := parts[0]
	for _, x := range parts[1:] {
		s += " " + x
	}
	model(tok)["merges"] = append(ms, s)
}

// checkGGUFRefused runs gguf on src (with the extra flags) and checks the
// refusal: exit 1, one line naming every fragment, nothing the message
// must not say, the input unchanged and no output left.
func checkGGUFRefused(t *testing.T, src string, flags []string, fragments, absent []string) {
	t.Helper()
	before := snapshot(t, src)
	outDir := t.TempDir()
	args := append([]string{"gguf", "--model", src, "--outfile", filepath.Join(outDir, "out.gguf")}, flags...)
	r := run(t, runOpts{}, args...)
	requireOneLineError(t, r, 1, fragments...)
	for _, a := range absent {
		require.NotContains(t, r.Stderr, a)
	}
	requireUnchanged(t, before, src)
	ents, err := os.ReadDir(outDir)
	require.NoError(t, err)
	require.Empty(t, ents, "output left behind")
}

func TestHonestyTokenizer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		model     func(t testing.TB) string
		edit      func(tok map[string]any)
		fragments []string
	}{
		{"llama-hf missing merges", tinyModel, func(tok map[string]any) { delete(model(tok), "merges") },
			[]string{`tokenizer.json: "model.merges"`, "has no merges"}},
		{"llama-hf merge over unknown tokens", tinyModel, func(tok map[string]any) { appendMerge(tok, "zzq", "qqz") }, []string{`tokenizer.json: "model.merges"`, `token "zzq" is not in the vocabulary`}},
		{"byte-level missing merges", byteLevelModel, func(tok map[string]any) { delete(model(tok), "merges") },
			[]string{`tokenizer.json: "model.merges"`, "has no merges"}},
		{"byte-level empty merges", byteLevelModel, func(tok map[string]any) { model(tok)["merges"] = []any{} },
			[]string{`tokenizer.json: "model.merges" is empty`, "has no merges"}},
		{"byte-level merge over unknown tokens", byteLevelModel, func(tok map[string]any) { appendMerge(tok, "zzq", "qqz") }, []string{`tokenizer.json: "model.merges"`, `token "zzq" is not in the vocabulary`}},
		{"byte-level merge not a pair", byteLevelModel, func(tok map[string]any) { appendMerge(tok, "a", "b", "c") },
			[]string{`tokenizer.json: "model.merges"`, `is not a pair of tokens`}},
		{"byte-level merges mixed formats", byteLevelModel, func(tok map[string]any) {
			model(tok)["merges"] = append(model(tok)["merges"].([]any), "a b")
		}, []string{`tokenizer.json: "model.merges": unknown merges format`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.model(t)
			editJSON(t, src, "tokenizer.json", tc.edit)
			// Without --pre the error says what is wrong, not that the
			// pre-tokenizer is unknown, and does not offer --pre as a way
			// out; with --pre it is the same error.
			checkGGUFRefused(t, src, nil, tc.fragments, []string{"--pre", "pre-tokenizer"})
			checkGGUFRefused(t, src, []string{"--pre", "llama-bpe"}, tc.fragments, []string{"pre-tokenizer"})
		})
	}

	// The byte-level fixture itself exports with --pre (the cases above
	// fail for their edit, not for the fixture).
	src := byteLevelModel(t)
	out := filepath.Join(t.TempDir(), "ok.gguf")
	r := run(t, runOpts{}, "gguf", "--model", src, "--outfile", out, "--pre", "llama-bpe")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.FileExists(t, out)
}

func TestHonestyConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(cfg map[string]any)
		fragments []string
	}{
		{"rope_theta string", func(c map[string]any) { c["rope_theta"] = "big" },
			[]string{`config.json: "rope_theta": want a number, got string "big"`}},
		{"rms_norm_eps list", func(c map[string]any) { c["rms_norm_eps"] = []any{1e-5} },
			[]string{`config.json: "rms_norm_eps": want a number, got a list`}},
		{"max_position_embeddings negative", func(c map[string]any) { c["max_position_embeddings"] = -5 },
			[]string{`config.json: "max_position_embeddings": want an integer in [0, 4294967295], got number -5`}},
		{"head_dim string", func(c map[string]any) { c["head_dim"] = "16" },
			[]string{`config.json: "head_dim"`, `"16"`}},
		{"is_causal string", func(c map[string]any) { c["is_causal"] = "no" },
			[]string{`config.json: "is_causal": want a bool, got string "no"`}},
		{"rope_type number", func(c map[string]any) { c["rope_scaling"] = map[string]any{"rope_type": 3, "factor": 2.0} },
			[]string{`config.json: "rope_scaling.rope_type": want a string, got number 3`}},
		{"rope_scaling string", func(c map[string]any) { c["rope_scaling"] = "linear" },
			[]string{`config.json: "rope_scaling": want an object, got string "linear"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tinyModel(t)
			editJSON(t, src, "config.json", tc.edit)
			checkGGUFRefused(t, src, nil, tc.fragments, []string{"context_length", "llama."})
		})
	}
}

func TestHonestyQuantizationContradiction(t *testing.T) {
	// An MLX 4-bit model made by convert, whose config then calls one
	// packed module unquantized (or quantized otherwise).
	q := filepath.Join(t.TempDir(), "q")
	r := run(t, runOpts{}, "convert", "--hf-path", tinyModel(t), "--mlx-path", q, "-q", "--quiet")
	require.Equal(t, 0, r.Code, r.Stderr)
	const mod = "model.layers.0.mlp.down_proj"
	for _, tc := range []struct {
		name      string
		entry     any
		fragments []string
	}{
		{"false", false, []string{`config.json: "quantization"."` + mod + `" is false (not quantized)`, mod + ".scales"}},
		{"other bits", map[string]any{"group_size": 64, "bits": 8}, []string{`config.json: "quantization"."` + mod + `" says 8-bit affine with group size 64`, "4-bit affine with group size 64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "q")
			copyTree(t, q, src)
			editJSON(t, src, "config.json", func(c map[string]any) {
				c["quantization"].(map[string]any)[mod] = tc.entry
				c["quantization_config"] = c["quantization"]
			})
			before := snapshot(t, src)
			outParent := t.TempDir()
			r := run(t, runOpts{}, "convert", "--hf-path", src, "--mlx-path", filepath.Join(outParent, "out"))
			requireOneLineError(t, r, 1, tc.fragments...)
			requireUnchanged(t, before, src)
			ents, err := os.ReadDir(outParent)
			require.NoError(t, err)
			require.Empty(t, ents, "output left behind")

			checkGGUFRefused(t, src, nil, tc.fragments, nil)
		})
	}
}
