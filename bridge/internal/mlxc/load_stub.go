//go:build !((darwin || linux) && !ios && !android && (amd64 || arm64) && !nomlx)

package mlxc

import (
	"fmt"
	"runtime"
)

// CoreLibraryName is the file name of MLX's core library.
const CoreLibraryName = "libmlx.so"

// Supported reports why this build cannot load libmlxc.
func Supported() error {
	if disabledByTag {
		return fmt.Errorf("%w: built with the nomlx tag", ErrUnsupported)
	}
	return fmt.Errorf("%w: %s/%s is not supported by purego without cgo", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Load always fails in this build; see Supported.
func Load(path string) (*Library, error) { return nil, Supported() }

// Close does nothing in this build.
func (l *Library) Close() error { return nil }

// NewErrorHandler is never called in this build (Load fails first).
func NewErrorHandler(fn func(msg string)) uintptr { return 0 }
