//go:build (darwin || linux) && !ios && !android && (amd64 || arm64) && !nomlx

package mlxc

import (
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
// Before the dynamic loader sees the file, Load checks it (see Check): a
// truncated library would crash the process with SIGBUS inside dlopen, a
// library for another architecture or not mlx-c is refused with the
// reason. The libmlx it needs is checked the same way where the loader
// would find it.
//
// On Linux, when path's folder also holds libmlx.so (a file or a symlink),
// that library is opened first with RTLD_GLOBAL, so that libmlxc's
// dependency on it (a bare NEEDED entry without RPATH) resolves without
// LD_LIBRARY_PATH. When the libmlx it needs is nowhere to be found, the
// error says how to fix that.
//
// Every required symbol is resolved before Load returns; a library that
// lacks some returns an error wrapping ErrSymbol that names all of them. The
// ABI generation is chosen by probing SymABI06, SymABI05 and SymABI04; a
// library older than mlx-c 0.4.0 gives an error wrapping ErrABI, one that is
// not mlx-c at all ErrNotMLXC. On any error the library is closed again.
// Load makes no call into the library. Errors are one line naming the file.
func Load(path string) (*Library, error) {
	// dlopen searches the library path for a name without a slash; load
	// exactly the file that is checked.
	file := path
	if !strings.ContainsRune(file, '/') {
		file = "./" + file
	}
	info, err := checkFile(file, runtime.GOOS, runtime.GOARCH, true)
	if err != nil {
		return nil, err
	}
	if err := info.checkCore(runtime.GOARCH, os.Getenv); err != nil {
		return nil, err
	}
	var preloadErr error
	if runtime.GOOS == "linux" {
		core := filepath.Join(filepath.Dir(file), CoreLibraryName)
		if fi, err := os.Stat(core); err == nil && !fi.IsDir() {
			// Load a symlinked libmlx.so from its real place, so that its
			// own $ORIGIN-relative RPATH (the MLX wheels have one) works.
			if real, err := filepath.EvalSymlinks(core); err == nil {
				core = real
			}
			if _, err := checkFile(core, runtime.GOOS, runtime.GOARCH, false); err != nil {
				preloadErr = err // never hand a broken file to the loader
			} else if _, err := purego.Dlopen(core, purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
				// Kept open for the life of the process: libmlxc needs it.
				preloadErr = fmt.Errorf("preload %q: %v", core, err)
			}
		}
	}
	h, err := purego.Dlopen(file, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		msg := oneLine(err.Error())
		if msg == "" {
			msg = "dlopen failed without a message"
		}
		if hint := info.coreHint(os.Getenv); hint != "" {
			return nil, fmt.Errorf("%w: %q: %s (dlopen: %s)", ErrLoad, path, hint, msg)
		}
		if preloadErr != nil {
			msg += "; " + oneLine(preloadErr.Error())
		}
		return nil, fmt.Errorf("%w: %q: %s", ErrLoad, path, msg)
	}
	lib := &Library{Path: path, Handle: h}
	if err := lib.bind(); err != nil {
		_ = purego.Dlclose(h)
		return nil, err
	}
	return lib, nil
}

// oneLine folds a loader message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (l *Library) has(name string) bool {
	addr, err := purego.Dlsym(l.Handle, name)
	return err == nil && addr != 0
}

// bind resolves the symbols through the loader; identify decides from
// the same table as Check, so both give the same errors.
func (l *Library) bind() error {
	abi, err := identify(l.Path, l.has)
	if err != nil {
		return err
	}
	l.ABI = abi
	for _, b := range bindings {
		if l.ABI < b.min || (b.max != ABIUnknown && l.ABI > b.max) {
			continue
		}
		addr, err := purego.Dlsym(l.Handle, b.name)
		if err != nil || addr == 0 {
			return fmt.Errorf("%w: %q (mlx-c %s): %s", ErrSymbol, l.Path, l.ABI, b.name)
		}
		purego.RegisterFunc(b.fptr(&l.Sym), addr)
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
