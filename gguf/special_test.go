//go:build unix

package gguf_test

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/gguf"
)

// TestOpenSpecialFiles: Open refuses, at once and by name, a path that is
// not a regular file (a plain open of a FIFO blocks until a writer comes).
func TestOpenSpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		mk         func(t *testing.T, p string)
	}{
		{"fifo", "named pipe", func(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o644)) }},
		{"socket", "socket", func(t *testing.T, p string) {
			t.Chdir(filepath.Dir(p))
			l, err := net.Listen("unix", filepath.Base(p))
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
		}},
		{"device", "character device", func(t *testing.T, p string) { require.NoError(t, os.Symlink("/dev/zero", p)) }},
		{"directory", "directory", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o755)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.gguf")
			tc.mk(t, p)
			done := make(chan error, 1)
			go func() {
				f, err := gguf.Open(p)
				if err == nil {
					f.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				require.EqualError(t, err, `"`+p+`": not a regular file (`+tc.kind+`)`)
			case <-time.After(10 * time.Second):
				t.Fatal("Open blocked")
			}
		})
	}
}
