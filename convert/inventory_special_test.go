//go:build unix

package convert

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/fsx"
	"github.com/mlxconv/mlxconv/model/source"
)

// TestLoadInventorySpecialFiles puts a named pipe where LoadInventory
// reads or lists a file: it must fail at once (a plain open would block
// until a writer appears) with an error naming the file.
func TestLoadInventorySpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string // replaced by, or added as, a FIFO
	}{
		{"config", "config.json"},
		{"generation config", "generation_config.json"},
		{"hf quant config", "hf_quant_config.json"},
		{"index", "model.safetensors.index.json"},
		{"shard", "model.safetensors"},
		{"second shard by glob", "model-00002-of-00002.safetensors"},
		{"aux tokenizer", "tokenizer.json"},
		{"aux python", "modeling.py"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			require.NoError(t, writeModelErr(dir, modelLlama()))
			p := filepath.Join(dir, tc.file)
			if err := os.Remove(p); err != nil {
				require.ErrorIs(t, err, os.ErrNotExist)
			}
			require.NoError(t, syscall.Mkfifo(p, 0o644))
			done := make(chan error, 1)
			go func() {
				inv, err := source.LoadInventory(dir)
				if err == nil {
					inv.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				require.ErrorIs(t, err, fsx.ErrNotRegular)
				require.Contains(t, err.Error(), `"`+p+`": not a regular file (named pipe)`)
			case <-time.After(10 * time.Second):
				t.Fatal("LoadInventory blocked on a FIFO")
			}
		})
	}
}
