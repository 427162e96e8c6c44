package prealloc

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// fallocate is syscall.Fallocate; tests replace it.
var fallocate = syscall.Fallocate

// reserve allocates [0, size) with fallocate mode 0, which also sets the
// file size. It reports false, without error, when the file system cannot
// (EOPNOTSUPP, ENOSYS: the caller truncates instead).
func reserve(f *os.File, size int64) (bool, error) {
	for {
		err := fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
			return false, fmt.Errorf("%w (%w)", ErrNoSpace, err)
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EINVAL):
			return false, nil
		default:
			return false, err
		}
	}
}
