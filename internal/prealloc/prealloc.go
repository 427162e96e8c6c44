package prealloc

import (
	"errors"
	"fmt"
	"os"
)

// ErrNoSpace is wrapped by File's error when the file system has not
// enough free space for the whole file.
var ErrNoSpace = errors.New("not enough free disk space")

// File makes f exactly size bytes long, with its blocks reserved where the
// platform and file system allow it. f must be empty or shorter than size.
// After an error the caller should remove f: a fallocate that ran out of
// space may keep the blocks it did get.
func File(f *os.File, size int64) error {
	if size < 0 {
		return fmt.Errorf("prealloc %s: negative size %d", f.Name(), size)
	}
	if size == 0 {
		return f.Truncate(0)
	}
	reserved, err := reserve(f, size)
	if err != nil {
		return fmt.Errorf("prealloc %s (%d bytes): %w", f.Name(), size, err)
	}
	if !reserved {
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("prealloc %s: %w", f.Name(), err)
		}
	}
	return nil
}
