//go:build (darwin || linux) && !ios && !android && (amd64 || arm64) && !nomlx

package mlxc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Supported returns nil: this build can load libmlxc.
func Supported() error { return nil }

// CoreLibraryName is the file name of MLX's core library that libmlxc
// depends on. On Linux, Load opens it from the libmlxc folder first.
const CoreLibraryName = "libmlx.so"

// Load opens the libmlxc at path and binds its symbols.
//
// On Linux, when path's folder also holds libmlx.so (a file or a symlink),
// that library is opened first with RTLD_GLOBAL, so that libmlxc's
// dependency on it (a bare NEEDED entry without RPATH) resolves without
// LD_LIBRARY_PATH.
//
// Every required symbol is resolved before Load returns; a library that
// lacks some returns an error wrapping ErrSymbol that names all of them. The
// ABI generation is chosen by probing SymABI06, SymABI05 and SymABI04; a
// library older than mlx-c 0.4.0 gives an error wrapping ErrABI. On any
// error the library is closed again. Load makes no call into the library.
func Load(path string) (*Library, error) {
	var preloadErr error
	if runtime.GOOS == "linux" && strings.ContainsRune(path, '/') {
		core := filepath.Join(filepath.Dir(path), CoreLibraryName)
		if fi, err := os.Stat(core); err == nil && !fi.IsDir() {
			// Load a symlinked libmlx.so from its real place, so that its
			// own $ORIGIN-relative RPATH (the MLX wheels have one) works.
			if real, err := filepath.EvalSymlinks(core); err == nil {
				core = real
			}
			// Kept open for the life of the process: libmlxc needs it.
			if _, err := purego.Dlopen(core, purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
				preloadErr = fmt.Errorf("preload %s: %w", core, err)
			}
		}
	}
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w %s: %v", ErrLoad, path, err), preloadErr)
	}
	lib := &Library{Path: path, Handle: h}
	if err := lib.bind(); err != nil {
		_ = purego.Dlclose(h)
		return nil, err
	}
	return lib, nil
}

func (l *Library) has(name string) bool {
	addr, err := purego.Dlsym(l.Handle, name)
	return err == nil && addr != 0
}

func (l *Library) bind() error {
	switch {
	case l.has(SymABI06):
		l.ABI = ABI06
	case l.has(SymABI05):
		l.ABI = ABI05
	case l.has(SymABI04):
		l.ABI = ABI04
	default:
		return fmt.Errorf("%w: %s is older than mlx-c 0.4.0 (no %s)", ErrABI, l.Path, SymABI04)
	}
	var missing []string
	for _, b := range bindings {
		if l.ABI < b.min || (b.max != ABIUnknown && l.ABI > b.max) {
			continue
		}
		addr, err := purego.Dlsym(l.Handle, b.name)
		if err != nil || addr == 0 {
			missing = append(missing, b.name)
			continue
		}
		purego.RegisterFunc(b.fptr(&l.Sym), addr)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s (mlx-c %s): %s", ErrSymbol, l.Path, l.ABI, strings.Join(missing, ", "))
	}
	return nil
}

// Close unloads the library. Call it only when no C call can follow and
// the library was never used: unloading C++ code that ran is not safe in
// general, so package bridge keeps successfully opened libraries loaded.
func (l *Library) Close() error { return purego.Dlclose(l.Handle) }

// NewErrorHandler returns a C function pointer of type
// mlx_error_handler_func (void (*)(const char* msg, void* data)) that calls
// fn with a Go copy of msg. Callbacks are never freed (purego allows about
// 2000 per process): create few and reuse them.
func NewErrorHandler(fn func(msg string)) uintptr {
	return purego.NewCallback(func(msg *byte, _ uintptr) {
		fn(goString(msg))
	})
}

// maxMessage bounds how far goString scans for the terminating NUL.
const maxMessage = 1 << 16

func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for n < maxMessage && *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
