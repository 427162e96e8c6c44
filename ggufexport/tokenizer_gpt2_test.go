package ggufexport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLoadVocabGPT2 exports a GPT-2 style vocabulary (vocab.json and
// merges.txt) and lists the tokenizer KVs it would add to a GGUF file. The
// pre-tokenizer is named explicitly here; without vocabOptions.Pre it is
// detected from the tokenizer, as llama.cpp's converter does.
func TestLoadVocabGPT2(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"vocab.json":  `{"h": 0, "e": 1, "l": 2, "o": 3, "he": 4, "ll": 5, "<|endoftext|>": 6}`,
		"merges.txt":  "#version: 0.2\nh e\nl l\n",
		"config.json": `{"vocab_size": 8, "bos_token_id": 6, "eos_token_id": 6}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v, err := loadVocab(dir, vocabOptions{Pre: "gpt-2"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, kv := range v.KVs() {
		fmt.Fprintln(&b, kv.Key, kv.Value)
	}
	fmt.Fprintln(&b, v.Types[6], v.Types[7])
	assert.Equal(t, `tokenizer.ggml.model "gpt2"
tokenizer.ggml.pre "gpt-2"
tokenizer.ggml.tokens [STRING×8]{"h", "e", "l", "o", "he", "ll", "<|endoftext|>", "[PAD7]"}
tokenizer.ggml.token_type [INT32×8]{1, 1, 1, 1, 1, 1, 3, 5}
tokenizer.ggml.merges [STRING×2]{"h e", "l l"}
tokenizer.ggml.bos_token_id 6
tokenizer.ggml.eos_token_id 6
CONTROL UNUSED
`, b.String())
}
