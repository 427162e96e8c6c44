//go:build linux || darwin

package safetensors

import (
	"math"
	"os"
	"syscall"
)

// mmapFile maps size bytes of f read-only. It returns nil, nil for an empty
// file or a size that does not fit in an int.
func mmapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || size > math.MaxInt {
		return nil, nil
	}
	return syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
}

func munmap(b []byte) error { return syscall.Munmap(b) }
