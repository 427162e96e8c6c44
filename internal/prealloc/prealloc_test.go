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
