package prealloc

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFileSizes(t *testing.T) {
	for _, size := range []int64{0, 1, 4095, 4096, 1 << 20, 3<<20 + 7} {
		p := filepath.Join(t.TempDir(), "out")
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, File(f, size))
		// Positioned writes anywhere inside keep the size.
		if size > 0 {
			_, err = f.WriteAt([]byte{1}, size-1)
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, size, st.Size())
		if runtime.GOOS == "linux" && size >= 1<<20 {
			// Blocks are reserved: the file is not sparse.
			require.GreaterOrEqual(t, st.Sys().(*syscall.Stat_t).Blocks*512, size, "size %d", size)
		}
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "neg"))
	require.NoError(t, err)
	defer f.Close()
	require.Error(t, File(f, -1))
}

// TestNoSpace asks for more than any disk here has and expects ErrNoSpace
// before anything is written (Linux; file systems without fallocate only
// get a sparse size and are skipped).
func TestNoSpace(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("fallocate is Linux only")
	}
	p := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(filepath.Dir(p), &st))
	free := int64(st.Bavail) * int64(st.Bsize)
	err = File(f, free+1<<40)
	if err == nil {
		t.Skip("the file system here accepts sparse sizes without fallocate")
	}
	require.ErrorIs(t, err, ErrNoSpace)
	require.Contains(t, err.Error(), p)
}
