//go:build unix

package ggufexport

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoadVocabSpecialFiles: a named pipe in place of a tokenizer file is
// an ErrTokenizer naming it, not a file taken as absent, and no wait.
func TestLoadVocabSpecialFiles(t *testing.T) {
	src := filepath.Join("..", "testdata", "tiny-llama")
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "chat_template.jinja"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
				b, err := os.ReadFile(filepath.Join(src, f))
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
			}
			p := filepath.Join(dir, name)
			_ = os.Remove(p)
			require.NoError(t, syscall.Mkfifo(p, 0o644))
			done := make(chan error, 1)
			go func() {
				_, err := loadVocab(dir, vocabOptions{Arch: "llama"})
				done <- err
			}()
			select {
			case err := <-done:
				require.ErrorIs(t, err, ErrTokenizer)
				require.Contains(t, err.Error(), `"`+p+`": not a regular file (named pipe)`)
			case <-time.After(10 * time.Second):
				t.Fatal("LoadVocab blocked")
			}
		})
	}
}
