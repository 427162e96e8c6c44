package ggufexport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLlamaHFVocab checks the LlamaHfVocab path on ggufexport/testdata/llamahf
// (expectations confirmed by TestVocabConverterOracle/llamahf-synthetic).
func TestLlamaHFVocab(t *testing.T) {
	v, err := loadVocab(filepath.Join("testdata", "llamahf"), vocabOptions{Arch: "llama"})
	require.NoError(t, err)
	assert.Equal(t, "llama", v.Model)
	assert.Equal(t, "default", v.Pre)
	assert.Equal(t, []string{"<unk>", "<s>", "</s>", "<0x00>", "<0x0A>", "<0xff>", "▁", "t", "h", "e", "▁t", "▁the", "he", "<0x1G>",
		"<|im_end|>", "<tool>", "<extra>", "<pad>"}, v.Tokens)
	C, B, N, U := tokenControl, tokenByte, tokenNormal, tokenUserDefined
	assert.Equal(t, []tokenType{C, C, C, B, B, B, N, N, N, N, N, C, N, N, U, C, U, C}, v.Types)
	require.Len(t, v.Scores, 18)
	for _, s := range v.Scores {
		assert.Equal(t, float32(-1000), s)
	}
	var keys []string
	for _, kv := range v.KVs() {
		keys = append(keys, kv.Key)
	}
	assert.Equal(t, []string{keyTokenizerModel, keyTokenizerPre, keyTokenList, keyTokenScores, keyTokenType,
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
		"tokenizer.ggml.mask_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_sep_token",
		"tokenizer.ggml.add_eos_token", keyChatTemplate}, keys)
	id, ok := v.Lookup("tokenizer.ggml.eos_token_id")
	require.True(t, ok)
	assert.True(t, id.Equal(gguf.NewValue[uint32](2)), "eos %v", id)
}

// TestLlamaHFVocabLegacy: without added_tokens_decoder, special_tokens_map.json
// and added_tokens.json count (transformers' legacy loading).
func TestLlamaHFVocabLegacy(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"tokenizer.json", "config.json", "special_tokens_map.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "llamahf", n))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer_config.json"),
		[]byte(`{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "added_tokens.json"), []byte(`{"<new>": 30}`), 0o644))
	v, err := loadVocab(dir, vocabOptions{Arch: "llama"})
	require.NoError(t, err)
	// eos is <|im_end|> (special_tokens_map.json), so </s> is NORMAL;
	// <new> takes the next free id whatever added_tokens.json says.
	assert.Equal(t, []string{"<|im_end|>", "<tool>", "<new>"}, v.Tokens[14:])
	assert.Equal(t, tokenNormal, v.Types[2])
	assert.Equal(t, []tokenType{tokenControl, tokenUserDefined, tokenUserDefined}, v.Types[14:])

	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokenizer_config.json"),
		[]byte(`{"tokenizer_class": "LlamaTokenizer", "unk_token": {"content": "<unk>"}}`), 0o644))
	_, err = loadVocab(dir, vocabOptions{Arch: "llama"})
	require.ErrorIs(t, err, ErrTokenizer)
}
