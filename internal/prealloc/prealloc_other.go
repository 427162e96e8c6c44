//go:build !linux

package prealloc

import "os"

// reserve reports false: outside Linux the caller only sets the size.
func reserve(*os.File, int64) (bool, error) { return false, nil }
