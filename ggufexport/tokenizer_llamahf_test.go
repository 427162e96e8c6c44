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

// TestSPMFromTokenizerJSON: without tokenizer.model, the SentencePiece rules
// (gemma2 here; also gemma and phi3) take LlamaHfVocab's tokens as the
// pieces — mlx-lm 0.32.2 writes no tokenizer.model — then fill to the
// vocabulary size (the embedding rows) with [PADi] and drop ids past it.
func TestSPMFromTokenizerJSON(t *testing.T) {
	dir := filepath.Join("testdata", "llamahf")
	hf, err := loadVocab(dir, vocabOptions{Arch: "llama"})
	require.NoError(t, err)

	v, err := loadVocab(dir, vocabOptions{Arch: "gemma2", VocabSize: 20})
	require.NoError(t, err)
	assert.Equal(t, "llama", v.Model)
	require.Len(t, v.Tokens, 20)
	assert.Equal(t, hf.Tokens[:14], v.Tokens[:14])
	assert.Equal(t, hf.Types[:14], v.Types[:14])
	assert.Equal(t, []string{"[PAD18]", "[PAD19]"}, v.Tokens[18:])
	assert.Equal(t, []tokenType{tokenUnused, tokenUnused}, v.Types[18:])
	// NORMAL pieces score -rank (ids 6..10 and 12; 11, ▁the, is CONTROL).
	assert.Equal(t, []float32{-1000, -1000, 0, -1, -5, -10000}, []float32{v.Scores[0], v.Scores[3], v.Scores[6], v.Scores[7], v.Scores[12], v.Scores[19]})
	sp, ok := v.Lookup(keyAddSpacePrefix)
	require.True(t, ok)
	assert.True(t, sp.Equal(gguf.NewValue(false)))

	v, err = loadVocab(dir, vocabOptions{Arch: "gemma2", VocabSize: 16})
	require.NoError(t, err)
	assert.Equal(t, hf.Tokens[:16], v.Tokens)
	assert.Contains(t, v.Warnings, "ignore tokens from 16: id is out of range, max=15")

	// Not a SentencePiece-style tokenizer.json: still refused by name.
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "tokenizer.json"),
		[]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [], "decoder": {"type": "ByteLevel"}}`), 0o644))
	_, err = loadVocab(other, vocabOptions{Arch: "gemma"})
	require.ErrorIs(t, err, ErrTokenizer)
	assert.Contains(t, err.Error(), "tokenizer.model not found")
}
