//go:build (darwin || linux) && !ios && !android && (amd64 || arm64) && !nomlx

package bridge

// Tests against the fake libmlxc of testdata/fakemlxc.c, compiled here with
// the system C compiler and loaded through the real bridge.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/ebitengine/purego"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/bridge/bridgetest"
	"github.com/mlxconv/mlxconv/bridge/internal/mlxc"
)

func fakePath(t *testing.T, v bridgetest.Variant) string {
	t.Helper()
	p, err := bridgetest.Path(v)
	require.NoError(t, err)
	return p
}

func openFake(t *testing.T, v bridgetest.Variant, opts Options) *Lib {
	t.Helper()
	l, err := Open(fakePath(t, v), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// hooks are the fake's test-only functions.
type hooks struct {
	live, callsBeforeHandler, foreignCalls, contiguousCalls, clearCacheCalls, cacheLimit func() int64
	setNextNoncontiguous                                                                 func()
	lastCall                                                                             func() string
}

func fakeHooks(t *testing.T, l *Lib) hooks {
	t.Helper()
	var h hooks
	reg := func(fptr any, name string) {
		addr, err := purego.Dlsym(l.inst.lib.Handle, name)
		require.NoError(t, err, name)
		purego.RegisterFunc(fptr, addr)
	}
	reg(&h.live, "fake_live")
	reg(&h.callsBeforeHandler, "fake_calls_before_handler")
	reg(&h.foreignCalls, "fake_foreign_calls")
	reg(&h.contiguousCalls, "fake_contiguous_calls")
	reg(&h.clearCacheCalls, "fake_clear_cache_calls")
	reg(&h.cacheLimit, "fake_cache_limit")
	reg(&h.setNextNoncontiguous, "fake_set_next_noncontiguous")
	reg(&h.lastCall, "fake_last_call")
	return h
}

func f32Bytes(xs ...float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func ramp(n int) []float32 {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i)/8 - 3
	}
	return xs
}

func TestFakeABISelection(t *testing.T) {
	tests := []struct {
		v   bridgetest.Variant
		abi ABI
	}{
		{bridgetest.ABI4, ABI04},
		{bridgetest.ABI5, ABI05},
		{bridgetest.ABI6, ABI06},
	}
	for _, tt := range tests {
		t.Run(tt.v.Name, func(t *testing.T) {
			l := openFake(t, tt.v, Options{})
			h := fakeHooks(t, l)
			assert.Equal(t, tt.abi, l.ABI())
			assert.Equal(t, "0.0.0-fake", l.Version(), "mlx_version's string out-param")
			assert.Equal(t, DeviceCPU, l.Device())
			assert.Equal(t, int64(0), h.callsBeforeHandler(), "the error handler is installed first")

			w, err := l.FromBytes(f32Bytes(ramp(128)...), []int{2, 64}, Float32)
			require.NoError(t, err)
			// Both arities: the recorded arguments prove each parameter,
			// including the packed mlx_optional_int, reached its slot.
			qs, err := l.Quantize(w, QuantizeParams{Mode: "affine", GroupSize: 32, Bits: 4})
			require.NoError(t, err)
			assert.Equal(t, "quantize mode=affine gs=32/1 bits=4/1 gscale=none dtype=none/0", h.lastCall())
			require.Len(t, qs, 3)

			_, err = l.Quantize(w, QuantizeParams{})
			require.NoError(t, err)
			assert.Equal(t, "quantize mode=affine gs=0/0 bits=0/0 gscale=none dtype=none/0", h.lastCall())

			d, err := l.Dequantize(qs[0], qs[1], qs[2], QuantizeParams{GroupSize: 32, Bits: 4}, Float16)
			require.NoError(t, err)
			assert.Equal(t, "dequantize mode=affine gs=32/1 bits=4/1 gscale=none dtype=float16/1", h.lastCall())
			assert.Equal(t, Float16, d.DType())
			assert.Equal(t, []int{2, 64}, d.Shape())

			_, err = l.Dequantize(qs[0], qs[1], qs[2], QuantizeParams{GroupSize: 32, Bits: 4}, DTypeUnset)
			require.NoError(t, err)
			assert.Equal(t, "dequantize mode=affine gs=32/1 bits=4/1 gscale=none dtype=none/0", h.lastCall())

			gscale, err := l.FromBytes(f32Bytes(0.5), nil, Float32)
			require.NoError(t, err)
			fq, err := l.Quantize(w, QuantizeParams{Mode: "nvfp4", GlobalScale: gscale})
			if tt.abi < ABI06 {
				require.ErrorIs(t, err, ErrABI)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "quantize mode=nvfp4 gs=0/0 bits=0/0 gscale=0.5 dtype=none/0", h.lastCall())
			require.Len(t, fq, 2)
			assert.Equal(t, []int{2, 8}, fq[0].Shape())
			assert.Equal(t, []int{2, 4}, fq[1].Shape())
			assert.Equal(t, Uint8, fq[1].DType())
			_, err = l.Dequantize(fq[0], fq[1], nil, QuantizeParams{Mode: "nvfp4", GlobalScale: gscale}, DTypeUnset)
			require.NoError(t, err)
			assert.Equal(t, "dequantize mode=nvfp4 gs=0/0 bits=0/0 gscale=0.5 dtype=none/0", h.lastCall())
		})
	}
}

func TestFakeOpenErrors(t *testing.T) {
	t.Run("missing library", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "libmlxc.so")
		_, err := Open(p, Options{})
		require.ErrorIs(t, err, ErrLoad)
		assert.Contains(t, err.Error(), p)
	})
	t.Run("truncated library", func(t *testing.T) {
		data, err := os.ReadFile(fakePath(t, bridgetest.ABI6))
		require.NoError(t, err)
		p := filepath.Join(t.TempDir(), bridgetest.LibName("mlxc"))
		require.NoError(t, os.WriteFile(p, data[:len(data)/2], 0o755))
		_, err = Open(p, Options{})
		require.ErrorIs(t, err, ErrBadLibrary)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q: truncated", p))
		require.ErrorIs(t, CheckLibrary(p), ErrBadLibrary)
	})
	t.Run("not mlx-c", func(t *testing.T) {
		core := filepath.Join(filepath.Dir(fakePath(t, bridgetest.Core)), bridgetest.LibName("mlx"))
		_, err := Open(core, Options{})
		require.ErrorIs(t, err, ErrNotMLXC)
		assert.NotContains(t, err.Error(), "older than")
	})
	t.Run("missing symbol", func(t *testing.T) {
		_, err := Open(fakePath(t, bridgetest.NoAstype), Options{})
		require.ErrorIs(t, err, ErrSymbol)
		assert.Contains(t, err.Error(), "mlx_astype")
		assert.NotContains(t, err.Error(), "mlx_view", "only the missing symbols are named")
	})
	t.Run("older than 0.4", func(t *testing.T) {
		_, err := Open(fakePath(t, bridgetest.ABI3), Options{})
		require.ErrorIs(t, err, ErrABI)
		assert.Contains(t, err.Error(), "mlx_to_fp8")
	})
	t.Run("smoke test fails", func(t *testing.T) {
		for range 3 { // failed opens reuse their error-handler callback
			_, err := Open(fakePath(t, bridgetest.VersionFail), Options{})
			require.ErrorIs(t, err, ErrSmoke)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "mlx_version", e.Op)
			assert.Equal(t, 1, e.Code)
			assert.Regexp(t, `^fake: version failure at fakemlxc\.c:\d+$`, e.Msg)
		}
		registry.mu.Lock()
		free := len(registry.free)
		registry.mu.Unlock()
		assert.Equal(t, 1, free)
	})
	t.Run("no GPU", func(t *testing.T) {
		_, err := Open(fakePath(t, bridgetest.ABI6), Options{Device: DeviceGPU})
		require.ErrorIs(t, err, ErrDevice)
	})
	t.Run("bad device", func(t *testing.T) {
		_, err := Open(fakePath(t, bridgetest.ABI6), Options{Device: 9})
		require.ErrorIs(t, err, ErrArgument)
	})
}

func TestFakeErrorHandlerPath(t *testing.T) {
	l := openFake(t, bridgetest.ABI6, Options{})
	h := fakeHooks(t, l)
	w, err := l.FromBytes(f32Bytes(ramp(96)...), []int{2, 48}, Float32)
	require.NoError(t, err)

	_, err = l.Quantize(w, QuantizeParams{GroupSize: 32, Bits: 4})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "mlx_quantize", e.Op)
	assert.Equal(t, 1, e.Code)
	assert.Contains(t, e.Msg, "needs to be divisible by the quantization group size")
	assert.Contains(t, e.Error(), "bridge: mlx_quantize failed (code 1): [quantize]")

	_, err = l.Quantize(w, QuantizeParams{Mode: "bogus"})
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Msg, "Invalid quantization mode 'bogus'.")

	_, err = w.AsType(Complex64)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "mlx_astype", e.Op)

	// A failed call leaves no stale message behind.
	c, err := w.AsType(Float16)
	require.NoError(t, err)
	_, err = c.Bytes()
	require.NoError(t, err)
	assert.Equal(t, int64(0), h.callsBeforeHandler())
}

func TestFakeArraysRoundTrip(t *testing.T) {
	l := openFake(t, bridgetest.ABI6, Options{})
	h := fakeHooks(t, l)
	base := h.live()

	xs := ramp(128)
	w, err := l.FromBytes(f32Bytes(xs...), []int{2, 64}, Float32)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 64}, w.Shape())
	qs, err := l.Quantize(w, QuantizeParams{GroupSize: 64, Bits: 8})
	require.NoError(t, err)
	require.NoError(t, l.Eval(qs...))
	assert.Equal(t, []int{2, 16}, qs[0].Shape())
	assert.Equal(t, Uint32, qs[0].DType())
	assert.Equal(t, []int{2, 1}, qs[1].Shape())
	assert.Equal(t, Float32, qs[2].DType())

	d, err := l.Dequantize(qs[0], qs[1], qs[2], QuantizeParams{GroupSize: 64, Bits: 8}, DTypeUnset)
	require.NoError(t, err)
	require.NoError(t, d.Eval())
	b, err := d.Bytes()
	require.NoError(t, err)
	require.Len(t, b, 4*128)
	for i, x := range xs {
		got := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		assert.InDelta(t, x, got, 0.02, "element %d", i)
	}

	// Half types go in as uint16 plus mlx_view and come back unchanged.
	for _, dt := range []DType{Float16, BFloat16} {
		raw := []byte{0x00, 0x3c, 0x00, 0xc0, 0x34, 0x12, 0xff, 0x7b}
		a, err := l.FromBytes(raw, []int{2, 2}, dt)
		require.NoError(t, err)
		assert.Equal(t, dt, a.DType())
		got, err := a.Bytes()
		require.NoError(t, err)
		assert.Equal(t, raw, got)
		require.NoError(t, a.Close())
		require.NoError(t, a.Close(), "Close is idempotent")
		_, err = a.Bytes()
		require.ErrorIs(t, err, ErrClosed)
	}

	// astype f32 -> bf16 (round to nearest even) through the fake.
	v, err := l.FromBytes(f32Bytes(1, 1.00390625, 1.01171875, -2.5), []int{4}, Float32)
	require.NoError(t, err)
	bf, err := v.AsType(BFloat16)
	require.NoError(t, err)
	got, err := bf.Bytes()
	require.NoError(t, err)
	assert.Equal(t, []byte{0x80, 0x3f, 0x80, 0x3f, 0x82, 0x3f, 0x20, 0xc0}, got)

	for _, a := range append(qs, w, d, v, bf) {
		require.NoError(t, a.Close())
	}
	assert.Equal(t, base, h.live(), "every handle is freed")
}

func TestFakeArgumentChecks(t *testing.T) {
	l := openFake(t, bridgetest.ABI6, Options{})
	other := openFake(t, bridgetest.ABI5, Options{})
	_, err := l.FromBytes(make([]byte, 7), []int{2, 2}, Float16)
	require.ErrorIs(t, err, ErrArgument)
	_, err = l.FromBytes(nil, []int{-1}, Float32)
	require.ErrorIs(t, err, ErrArgument)
	_, err = l.FromBytes(nil, []int{math.MaxInt32 + 1}, Uint8)
	require.ErrorIs(t, err, ErrArgument)
	_, err = l.FromBytes(nil, []int{1 << 30, 1 << 30, 1 << 30}, Uint8)
	require.ErrorIs(t, err, ErrArgument)
	_, err = l.FromBytes(nil, []int{0}, DType(42))
	require.ErrorIs(t, err, ErrArgument)
	_, err = l.Quantize(nil, QuantizeParams{Mode: "aff\x00ine"})
	require.ErrorIs(t, err, ErrArgument)

	a, err := other.FromBytes(f32Bytes(1, 2), []int{1, 2}, Float32)
	require.NoError(t, err)
	_, err = l.Quantize(a, QuantizeParams{})
	require.ErrorIs(t, err, ErrArgument, "arrays of another Lib are refused")

	e, err := l.FromBytes(nil, []int{0, 3}, Float32)
	require.NoError(t, err)
	b, err := e.Bytes()
	require.NoError(t, err)
	assert.Empty(t, b)
}

func TestFakeNoncontiguousResult(t *testing.T) {
	l := openFake(t, bridgetest.ABI6, Options{})
	h := fakeHooks(t, l)
	w, err := l.FromBytes(f32Bytes(1, 2, 3, 4), []int{2, 2}, Float32)
	require.NoError(t, err)
	before := h.contiguousCalls()
	h.setNextNoncontiguous()
	c, err := w.AsType(Int32)
	require.NoError(t, err)
	b, err := c.Bytes()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0}, b)
	assert.Equal(t, before+1, h.contiguousCalls())
}

func TestFakeLockedThread(t *testing.T) {
	l := openFake(t, bridgetest.ABI6, Options{})
	h := fakeHooks(t, l)
	before := h.foreignCalls()

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				w, err := l.FromBytes(f32Bytes(float32(g), float32(i)), []int{1, 2}, Float32)
				if !assert.NoError(t, err) {
					return
				}
				c, err := w.AsType(Int32)
				if !assert.NoError(t, err) {
					return
				}
				b, err := c.Bytes()
				assert.NoError(t, err)
				assert.Equal(t, []byte{byte(g), 0, 0, 0, byte(i), 0, 0, 0}, b)
				assert.NoError(t, w.Close())
				assert.NoError(t, c.Close())
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, before, h.foreignCalls(), "every call ran on the library's thread")

	// Negative control: the same call from another OS thread fails the way
	// MLX >= 0.31.2 fails, so the check above can fail.
	w, err := l.FromBytes(f32Bytes(1, 2), []int{1, 2}, Float32)
	require.NoError(t, err)
	done := make(chan int32)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var res mlxc.Array
		done <- l.inst.lib.Sym.Astype(&res, w.h, int32(Int32), l.stream)
	}()
	assert.Equal(t, int32(1), <-done)
	assert.Regexp(t, `^There is no Stream\(cpu, 0\) in current thread\. at fakemlxc\.c:\d+$`, l.inst.errMsg)
}

func TestFakeOutParamsAndCache(t *testing.T) {
	t.Run("default limit", func(t *testing.T) {
		l := openFake(t, bridgetest.ABI6, Options{})
		assert.Equal(t, int64(DefaultCacheLimit), fakeHooks(t, l).cacheLimit())
	})
	t.Run("explicit limit", func(t *testing.T) {
		l := openFake(t, bridgetest.ABI6, Options{CacheLimit: 12345})
		assert.Equal(t, int64(12345), fakeHooks(t, l).cacheLimit())
	})
	t.Run("keep MLX's limit", func(t *testing.T) {
		l := openFake(t, bridgetest.ABI6, Options{CacheLimit: 777})
		m := openFake(t, bridgetest.ABI6, Options{CacheLimit: -1})
		assert.Equal(t, int64(777), fakeHooks(t, m).cacheLimit())
		_ = l
	})
	t.Run("metal", func(t *testing.T) {
		l := openFake(t, bridgetest.Metal, Options{Device: DeviceGPU})
		assert.Equal(t, DeviceGPU, l.Device())
		assert.Equal(t, "metal", l.GPU())
		a := openFake(t, bridgetest.Metal, Options{})
		if runtime.GOOS == "darwin" {
			assert.Equal(t, DeviceGPU, a.Device(), "auto picks Metal on macOS")
		} else {
			assert.Equal(t, DeviceCPU, a.Device(), "auto stays on the CPU off macOS")
		}
		require.NoError(t, l.Synchronize())
	})
}

func TestFakeCloseFreesEverything(t *testing.T) {
	p := fakePath(t, bridgetest.ABI5)
	l, err := Open(p, Options{})
	require.NoError(t, err)
	h := fakeHooks(t, l)
	// Other tests may hold Libs of this file; count from here.
	base := h.live() - 1 // this Lib's stream
	clears := h.clearCacheCalls()

	w, err := l.FromBytes(f32Bytes(ramp(64)...), []int{1, 64}, Float32)
	require.NoError(t, err)
	qs, err := l.Quantize(w, QuantizeParams{})
	require.NoError(t, err)
	assert.Greater(t, h.live(), base+1)

	// A second Lib on the same file shares the thread.
	l2, err := Open(p, Options{})
	require.NoError(t, err)
	assert.Same(t, l.inst, l2.inst)
	assert.Same(t, l.thr, l2.thr)

	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	assert.Equal(t, base+1, h.live(), "arrays and stream of l are freed, l2's stream remains")
	assert.Equal(t, clears+1, h.clearCacheCalls())
	require.NoError(t, qs[0].Close(), "closing an array of a closed Lib is a no-op")
	_, err = l.FromBytes(nil, []int{0}, Float32)
	require.ErrorIs(t, err, ErrClosed)
	_, err = w.Bytes()
	require.ErrorIs(t, err, ErrClosed)

	x, err := l2.FromBytes(f32Bytes(1), []int{1}, Float32)
	require.NoError(t, err, "l2 still works")
	_, err = x.Bytes()
	require.NoError(t, err)
	require.NoError(t, l2.Close())
	assert.Equal(t, base, h.live())

	// Reopen after the last Close: a new thread, the same library.
	l3, err := Open(p, Options{})
	require.NoError(t, err)
	defer l3.Close()
	_, err = l3.FromBytes(f32Bytes(1), []int{1}, Float32)
	require.NoError(t, err)
}

func TestFakePreloadsCoreLibrary(t *testing.T) {
	p := fakePath(t, bridgetest.Core)
	if runtime.GOOS == "linux" {
		// Control, before anything loaded libmlx.so into this process: a
		// copy without libmlx.so beside it cannot satisfy NEEDED.
		dir := t.TempDir()
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		lone := filepath.Join(dir, "libmlxc.so")
		require.NoError(t, os.WriteFile(lone, data, 0o755))
		_, err = Open(lone, Options{})
		require.ErrorIs(t, err, ErrLoad)
		assert.Contains(t, err.Error(), "put libmlx.so next to it or set LD_LIBRARY_PATH")
	}
	// With libmlx.so in the same folder, Open loads it first (no
	// LD_LIBRARY_PATH, no RPATH).
	l, err := Open(p, Options{})
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, "0.0.0-fake+core", l.Version())
}

func TestFakeAvailable(t *testing.T) {
	require.NoError(t, Available())
	var e *Error
	assert.False(t, errors.As(ErrSmoke, &e))
}

func TestFakeMisalignedInput(t *testing.T) {
	l := openFake(t, bridgetest.ABI6, Options{})
	buf := make([]byte, 1+4*3)
	copy(buf[1:], f32Bytes(1.5, -2, 3.25))
	a, err := l.FromBytes(buf[1:], []int{3}, Float32)
	require.NoError(t, err)
	got, err := a.Bytes()
	require.NoError(t, err)
	assert.Equal(t, buf[1:], got)
}
