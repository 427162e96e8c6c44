package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyLlamaBPE is tinyLlama with a byte-level BPE tokenizer the GGUF
// exporter can write (its pre-tokenizer is named with --pre).
func tinyLlamaBPE(t testing.TB, dir string) {
	t.Helper()
	tinyLlama(t, dir)
	vocab := map[string]int{}
	for c := '!'; c < '!'+60; c++ {
		vocab[string(c)] = len(vocab)
	}
	vocab[`!"`] = len(vocab) // the result of the one merge
	tj, err := json.Marshal(map[string]any{
		"added_tokens":  []any{},
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{"! \""}},
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644))
}

func TestGGUFCLI(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlamaBPE(t, in)
	out := filepath.Join(work, "out.gguf")

	code, _, stderr := runCLI(t, "gguf", "--model", in, "--outfile", out, "--outtype", "q8_0", "--pre", "llama-bpe", "--workers", "2")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "wrote "+out)
	assert.Contains(t, stderr, "MOSTLY_Q8_0")

	// inspect: text and JSON.
	code, stdout, stderr := runCLI(t, "inspect", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "general.architecture")
	assert.Contains(t, stdout, `"llama"`)
	assert.Contains(t, stdout, "tokenizer.ggml.pre")
	assert.Regexp(t, `blk\.0\.attn_q\.weight\s+Q8_0\s+\[64, 64\]`, stdout)
	assert.Regexp(t, `tokenizer\.ggml\.tokens\s+ARRAY\[STRING\]`, stdout)
	code, stdout, stderr = runCLI(t, "inspect", "--json", out)
	require.Equal(t, 0, code, stderr)
	var rep struct {
		Version  int `json:"version"`
		Metadata []struct {
			Key   string `json:"key"`
			Len   *int   `json:"len"`
			Value any    `json:"value"`
		} `json:"metadata"`
		Tensors []struct {
			Name  string   `json:"name"`
			Type  string   `json:"type"`
			Shape []uint64 `json:"shape"`
		} `json:"tensors"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 3, rep.Version)
	assert.Len(t, rep.Tensors, 20)
	for _, kv := range rep.Metadata {
		if kv.Key == "tokenizer.ggml.tokens" {
			require.NotNil(t, kv.Len)
			assert.Equal(t, 64, *kv.Len)
			assert.Len(t, kv.Value, 8, "arrays are summarised")
		}
	}

	// --dry-run lists and writes nothing; --json gives the summary.
	dry := filepath.Join(work, "dry.gguf")
	code, stdout, stderr = runCLI(t, "gguf", "--model", in, "--outfile", dry, "--pre", "llama-bpe", "--dry-run")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "blk.1.attn_k.weight")
	assert.Contains(t, stdout, "permute 2 heads")
	assert.Contains(t, stdout, "exact")
	_, err := os.Stat(dry)
	assert.True(t, os.IsNotExist(err))
	code, stdout, stderr = runCLI(t, "gguf", "--model", in, "--outfile", dry, "--pre", "llama-bpe", "--dry-run", "--json")
	require.Equal(t, 0, code, stderr)
	var sum struct {
		Files   []string `json:"files"`
		OutType string   `json:"outtype"`
		Tensors int      `json:"tensors"`
		List    []struct {
			Name  string `json:"name"`
			Exact bool   `json:"exact"`
		} `json:"tensor_list"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum))
	assert.Equal(t, []string{dry}, sum.Files)
	assert.Equal(t, "auto", sum.OutType)
	assert.Equal(t, 20, sum.Tensors)
	assert.Len(t, sum.List, 20)

	// Split output and inspect DIR.
	splitDir := filepath.Join(work, "split")
	code, _, stderr = runCLI(t, "gguf", "--model", in, "--outfile", filepath.Join(splitDir, "m.gguf"), "--pre", "llama-bpe",
		"--split-max-tensors", "8", "--quiet")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	files, err := filepath.Glob(filepath.Join(splitDir, "m-*-of-00003.gguf"))
	require.NoError(t, err)
	assert.Len(t, files, 3)
	code, stdout, stderr = runCLI(t, "inspect", splitDir)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 3, strings.Count(stdout, "file: "))
	assert.Contains(t, stdout, "split.count")
}

func TestGGUFUsageErrors(t *testing.T) {
	work := t.TempDir()
	in := filepath.Join(work, "in")
	tinyLlamaBPE(t, in)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"gguf"}, 2, "--model is required"},
		{[]string{"gguf", "--model", in, "--outtype", "q7_k"}, 2, "--outtype"},
		{[]string{"gguf", "--model", in, "--split-max-size", "5X"}, 2, "--split-max-size"},
		{[]string{"gguf", "--model", in, "--split-max-tensors", "-1"}, 2, "must not be negative"},
		{[]string{"gguf", "--model", in, "extra"}, 2, "unexpected argument"},
		{[]string{"gguf", "--model", in, "--dry-run"}, 1, "--pre"},
		{[]string{"gguf", "--model", filepath.Join(work, "missing"), "--dry-run"}, 1, "missing"},
		{[]string{"inspect"}, 2, "want one"},
		{[]string{"inspect", work}, 2, "no .gguf files"}, // no model either
		{[]string{"inspect", filepath.Join(in, "config.json")}, 1, "neither GGUF nor safetensors"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.msg, tc.args)
	}
	// The model may be given positionally, as to convert_hf_to_gguf.py.
	code, stdout, stderr := runCLI(t, "gguf", in, "--pre", "llama-bpe", "--dry-run")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "token_embd.weight")
}

func TestParseSplitSize(t *testing.T) {
	for s, want := range map[string]uint64{"0": 0, "1000": 1000, "5K": 5000, "2M": 2_000_000, "3G": 3_000_000_000} {
		n, err := parseSplitSize(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, n, s)
	}
	for _, s := range []string{"", "G", "1.5G", "-1", "5k", "+3", "99999999999999999999G"} {
		_, err := parseSplitSize(s)
		assert.Error(t, err, s)
	}
}
