//go:build unix

package hub

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/internal/fsx"
)

// TestListFolderSpecial: a named pipe in a folder to upload is refused by
// name (hashing it would block), unless an ignore pattern drops it; a
// symlink to a directory is skipped as before.
func TestListFolderSpecial(t *testing.T) {
	dir := t.TempDir()
	mlxFolder(t, dir, 10)
	fifo := filepath.Join(dir, "pipe.bin")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	require.NoError(t, os.Symlink(t.TempDir(), filepath.Join(dir, "linkdir")))
	_, err := listFolder(dir, nil)
	require.ErrorIs(t, err, fsx.ErrNotRegular)
	require.Contains(t, err.Error(), `"`+fifo+`": not a regular file (named pipe)`)
	files, err := listFolder(dir, []string{"*.bin"})
	require.NoError(t, err)
	for _, f := range files {
		require.NotEqual(t, "linkdir", f.rel)
	}
}

// TestReadSmallSpecial: the cache and card readers refuse a FIFO at once.
func TestReadSmallSpecial(t *testing.T) {
	p := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, syscall.Mkfifo(p, 0o644))
	_, err := readSmall(p, 1<<20)
	require.ErrorIs(t, err, fsx.ErrNotRegular)
	require.Empty(t, readTokenFile(p))
	_, err = PrepareUploadCard(filepath.Dir(p), "org/name", "test")
	require.ErrorIs(t, err, fsx.ErrNotRegular)
}
