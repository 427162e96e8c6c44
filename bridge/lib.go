package bridge

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mlxconv/mlxconv/bridge/internal/mlxc"
)

// ABI is the mlx-c API generation of a loaded library, detected from its
// symbols (mlx_version reports MLX's version, not mlx-c's).
type ABI = mlxc.ABI

// The supported ABI generations.
const (
	ABI04 = mlxc.ABI04 // mlx-c 0.4.x
	ABI05 = mlxc.ABI05 // mlx-c 0.5.x
	ABI06 = mlxc.ABI06 // mlx-c 0.6.0 and later: global_scale arguments
)

// Device selects where MLX runs the operations of a Lib.
type Device uint8

const (
	// DeviceAuto is the GPU on macOS when Metal is available, else the CPU.
	DeviceAuto Device = iota
	// DeviceCPU is MLX's CPU backend.
	DeviceCPU
	// DeviceGPU is MLX's GPU backend (Metal, or CUDA on a CUDA build).
	DeviceGPU
)

// String returns "auto", "cpu" or "gpu".
func (d Device) String() string {
	switch d {
	case DeviceAuto:
		return "auto"
	case DeviceCPU:
		return "cpu"
	case DeviceGPU:
		return "gpu"
	}
	return fmt.Sprintf("Device(%d)", uint8(d))
}

// DefaultCacheLimit is the MLX allocator cache limit Open sets unless
// Options.CacheLimit says otherwise.
const DefaultCacheLimit = 1 << 30

// Options configure Open.
type Options struct {
	// Device to run on; DeviceAuto by default.
	Device Device
	// CacheLimit bounds MLX's buffer cache in bytes (mlx_set_cache_limit,
	// a process-wide setting). 0 means DefaultCacheLimit; negative leaves
	// MLX's own limit.
	CacheLimit int64
}

// Available reports whether this build can load libmlxc at all. It returns
// nil, or an error wrapping ErrUnsupported saying why not (platform, or the
// nomlx build tag). It does not look for the library.
func Available() error { return mlxc.Supported() }

// Lib is an opened libmlxc with one stream on one device. Its methods are
// safe for concurrent use: they are executed one at a time on the OS thread
// that owns the library's MLX state.
type Lib struct {
	inst   *instance
	thr    *thread
	device Device
	gpu    string // "metal", "cuda" or "" (CPU)

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool

	// Owned by the thread.
	stream mlxc.Stream
	arrays map[*Array]struct{}
}

// instance is one loaded library file. Successfully opened libraries stay
// loaded for the life of the process (unloading C++ code that ran is not
// safe); the thread stops when the last Lib using it is closed.
type instance struct {
	lib     *mlxc.Library
	version string
	metal   bool
	cuda    bool
	handler *errHandler

	refs int     // guarded by registry.mu
	thr  *thread // guarded by registry.mu

	// Written by the error handler, read after each call; both happen on
	// the instance's thread.
	errMsg string
	errSet bool
}

// errHandler is one C-callable error handler. purego callbacks are never
// freed, so handlers of failed opens are reused.
type errHandler struct {
	fn     uintptr
	target atomic.Pointer[instance]
}

var registry struct {
	mu       sync.Mutex
	byHandle map[uintptr]*instance
	free     []*errHandler
}

func newErrHandler() *errHandler {
	if n := len(registry.free); n > 0 {
		h := registry.free[n-1]
		registry.free = registry.free[:n-1]
		return h
	}
	h := &errHandler{}
	h.fn = mlxc.NewErrorHandler(func(msg string) {
		if in := h.target.Load(); in != nil {
			in.errMsg, in.errSet = msg, true
		}
	})
	return h
}

func releaseErrHandler(h *errHandler) {
	h.target.Store(nil)
	registry.free = append(registry.free, h)
}

// Open loads the libmlxc at path and prepares a stream on opts.Device.
//
// On first use of a library file Open resolves all required symbols, picks
// the ABI, starts the library's thread, installs the error handler before
// any other call (so mlx-c never calls exit), and smoke-tests the library
// with mlx_version. It then sets the cache limit and creates the stream.
// On Linux, libmlx.so in path's folder is loaded first so that no
// LD_LIBRARY_PATH is needed. Errors wrap ErrUnsupported, ErrLoad,
// ErrSymbol, ErrABI, ErrSmoke or ErrDevice, or are an *Error.
//
// Opening the same file again shares the loaded library and its thread.
// Close every Lib.
func Open(path string, opts Options) (*Lib, error) {
	if err := mlxc.Supported(); err != nil {
		return nil, err
	}
	lib, err := mlxc.Load(path)
	if err != nil {
		return nil, err
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	in, err := acquire(lib)
	if err != nil {
		return nil, err
	}
	l := &Lib{inst: in, thr: in.thr, arrays: map[*Array]struct{}{}}
	if err := l.thr.do(func() error { return l.init(opts) }); err != nil {
		release(in)
		return nil, err
	}
	return l, nil
}

// acquire returns the running instance for lib, creating it on first use.
// registry.mu is held.
func acquire(lib *mlxc.Library) (*instance, error) {
	if registry.byHandle == nil {
		registry.byHandle = map[uintptr]*instance{}
	}
	in := registry.byHandle[lib.Handle]
	if in != nil {
		// The same file again: drop the extra loader reference.
		_ = lib.Close()
		if in.thr == nil {
			in.thr = startThread()
		}
		in.refs++
		return in, nil
	}
	in = &instance{lib: lib, handler: newErrHandler()}
	in.handler.target.Store(in)
	in.thr = startThread()
	if err := in.thr.do(in.init); err != nil {
		in.thr.stop()
		releaseErrHandler(in.handler)
		_ = lib.Close()
		return nil, err
	}
	in.refs = 1
	registry.byHandle[lib.Handle] = in
	return in, nil
}

// release drops one reference; the last one stops the thread.
// registry.mu is held.
func release(in *instance) {
	in.refs--
	if in.refs == 0 && in.thr != nil {
		in.thr.stop()
		in.thr = nil
	}
}

// init runs on the thread: error handler first, then the smoke test.
func (in *instance) init() error {
	s := &in.lib.Sym
	s.SetErrorHandler(in.handler.fn, 0, 0)

	str := s.StringNew()
	in.clear()
	rc := s.Version(&str)
	err := in.result("mlx_version", rc)
	if err == nil {
		in.version = s.StringData(str)
		if in.version == "" {
			err = errors.New("mlx_version returned an empty string")
		}
	}
	if str != 0 {
		s.StringFree(str)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSmoke, in.lib.Path, err)
	}

	in.clear()
	if err := in.result("mlx_metal_is_available", s.MetalIsAvailable(&in.metal)); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSmoke, in.lib.Path, err)
	}
	if s.CudaIsAvailable != nil {
		in.clear()
		if err := in.result("mlx_cuda_is_available", s.CudaIsAvailable(&in.cuda)); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSmoke, in.lib.Path, err)
		}
	}
	return nil
}

// clear forgets the last error message; call it before each C call.
func (in *instance) clear() { in.errMsg, in.errSet = "", false }

// result turns a return code and the error handler's state into an error.
func (in *instance) result(op string, rc int32) error {
	if rc == 0 && !in.errSet {
		return nil
	}
	return &Error{Op: op, Code: int(rc), Msg: in.errMsg}
}

// failed reports an error for a C function that returns a handle or
// pointer: empty means failure, so does a call of the error handler.
func (in *instance) failed(op string, empty bool) error {
	if !empty && !in.errSet {
		return nil
	}
	return &Error{Op: op, Msg: in.errMsg}
}

// init runs on the thread: cache limit, device choice and stream.
func (l *Lib) init(opts Options) error {
	in := l.inst
	s := &in.lib.Sym
	if opts.CacheLimit >= 0 {
		limit := opts.CacheLimit
		if limit == 0 {
			limit = DefaultCacheLimit
		}
		var prev uintptr
		in.clear()
		if err := in.result("mlx_set_cache_limit", s.SetCacheLimit(&prev, uintptr(limit))); err != nil {
			return err
		}
	}
	dev := opts.Device
	switch dev {
	case DeviceAuto:
		dev = DeviceCPU
		if runtime.GOOS == "darwin" && in.metal {
			dev = DeviceGPU
		}
	case DeviceCPU, DeviceGPU:
	default:
		return fmt.Errorf("%w: device %v", ErrArgument, dev)
	}
	if dev == DeviceGPU {
		switch {
		case in.metal:
			l.gpu = "metal"
		case in.cuda:
			l.gpu = "cuda"
		default:
			return fmt.Errorf("%w: %s: no Metal or CUDA backend", ErrDevice, in.lib.Path)
		}
		in.clear()
		l.stream = s.DefaultGPUStreamNew()
		if err := in.failed("mlx_default_gpu_stream_new", l.stream == 0); err != nil {
			return fmt.Errorf("%w: %w", ErrDevice, err)
		}
	} else {
		in.clear()
		l.stream = s.DefaultCPUStreamNew()
		if err := in.failed("mlx_default_cpu_stream_new", l.stream == 0); err != nil {
			return fmt.Errorf("%w: %w", ErrDevice, err)
		}
	}
	l.device = dev
	return nil
}

// do runs fn on the library's thread unless the Lib is closed.
func (l *Lib) do(fn func(in *instance, s *mlxc.Symbols) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.thr.do(func() error { return fn(l.inst, &l.inst.lib.Sym) })
}

// Close frees the Lib's arrays that are still open and its stream, clears
// MLX's buffer cache, and stops the library's thread when no other Lib uses
// it. The library itself stays loaded. Close is idempotent.
func (l *Lib) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.thr.do(func() error {
		in, s := l.inst, &l.inst.lib.Sym
		var errs []error
		for a := range l.arrays {
			errs = append(errs, a.free(in, s))
		}
		if l.stream != 0 {
			in.clear()
			errs = append(errs, in.result("mlx_stream_free", s.StreamFree(l.stream)))
			l.stream = 0
		}
		in.clear()
		errs = append(errs, in.result("mlx_clear_cache", s.ClearCache()))
		return errors.Join(errs...)
	})
	l.mu.Unlock()
	registry.mu.Lock()
	release(l.inst)
	registry.mu.Unlock()
	return err
}

// Path returns the library file.
func (l *Lib) Path() string { return l.inst.lib.Path }

// ABI returns the detected mlx-c ABI generation.
func (l *Lib) ABI() ABI { return l.inst.lib.ABI }

// Version returns MLX's version as mlx_version reports it ("0.32.4").
func (l *Lib) Version() string { return l.inst.version }

// Device returns the device of the Lib's stream (DeviceCPU or DeviceGPU).
func (l *Lib) Device() Device { return l.device }

// GPU returns "metal" or "cuda" for a GPU Lib, "" on the CPU.
func (l *Lib) GPU() string { return l.gpu }

// Synchronize waits for the stream's pending work (mlx_synchronize).
func (l *Lib) Synchronize() error {
	return l.do(func(in *instance, s *mlxc.Symbols) error {
		in.clear()
		return in.result("mlx_synchronize", s.Synchronize(l.stream))
	})
}

// ClearCache releases MLX's cached buffers (mlx_clear_cache).
func (l *Lib) ClearCache() error {
	return l.do(func(in *instance, s *mlxc.Symbols) error {
		in.clear()
		return in.result("mlx_clear_cache", s.ClearCache())
	})
}
