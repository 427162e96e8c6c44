package prealloc

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReserveErrors maps fallocate's answers (simulated: really filling a
// disk would starve every other test running beside this one).
func TestReserveErrors(t *testing.T) {
	prev := fallocate
	defer func() { fallocate = prev }()
	p := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()

	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		fallocate = func(int, uint32, int64, int64) error { return errno }
		err = File(f, 1<<20)
		require.ErrorIs(t, err, ErrNoSpace)
		require.ErrorIs(t, err, errno)
		require.Contains(t, err.Error(), p)
	}

	// Unsupported: the size is set without reserving.
	for _, errno := range []syscall.Errno{syscall.EOPNOTSUPP, syscall.ENOSYS, syscall.EINVAL} {
		fallocate = func(int, uint32, int64, int64) error { return errno }
		require.NoError(t, File(f, 12345))
		st, err := f.Stat()
		require.NoError(t, err)
		require.Equal(t, int64(12345), st.Size())
		require.NoError(t, f.Truncate(0))
	}

	// Interrupted calls are retried; other errors are returned.
	calls := 0
	fallocate = func(fd int, mode uint32, off, n int64) error {
		if calls++; calls < 3 {
			return syscall.EINTR
		}
		return prev(fd, mode, off, n)
	}
	require.NoError(t, File(f, 4096))
	require.Equal(t, 3, calls)
	fallocate = func(int, uint32, int64, int64) error { return syscall.EIO }
	err = File(f, 8192)
	require.ErrorIs(t, err, syscall.EIO)
	require.NotErrorIs(t, err, ErrNoSpace)
}
