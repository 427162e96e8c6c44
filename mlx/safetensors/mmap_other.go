//go:build !(linux || darwin)

package safetensors

import "os"

// mmapFile does not map on this platform; Open falls back to reads.
func mmapFile(*os.File, int64) ([]byte, error) { return nil, nil }

func munmap([]byte) error { return nil }
