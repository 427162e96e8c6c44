//go:build unix

package safetensors_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/mlx/safetensors"
)

// TestOpenSpecialFiles: Open refuses, at once and by name, a FIFO, a
// device and a directory.
func TestOpenSpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		mk         func(t *testing.T, p string)
	}{
		{"fifo", "named pipe", func(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o644)) }},
		{"device", "character device", func(t *testing.T, p string) { require.NoError(t, os.Symlink("/dev/zero", p)) }},
		{"directory", "directory", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o755)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "model.safetensors")
			tc.mk(t, p)
			done := make(chan error, 1)
			go func() {
				f, err := safetensors.Open(p)
				if err == nil {
					f.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				require.EqualError(t, err, `safetensors: "`+p+`": not a regular file (`+tc.kind+`)`)
			case <-time.After(10 * time.Second):
				t.Fatal("Open blocked")
			}
		})
	}
}
