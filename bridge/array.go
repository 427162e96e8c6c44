package bridge

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/mlxconv/mlxconv/bridge/internal/mlxc"
)

// DType is an element type, numbered as mlx-c's mlx_dtype (mlx-c >= 0.1.2).
type DType int32

// The mlx_dtype values.
const (
	Bool DType = iota
	Uint8
	Uint16
	Uint32
	Uint64
	Int8
	Int16
	Int32
	Int64
	Float16
	Float32
	Float64
	BFloat16
	Complex64
	numDTypes
)

// DTypeUnset asks MLX to choose an operation's output dtype.
const DTypeUnset DType = -1

var dtypeInfo = [numDTypes]struct {
	size int
	name string
}{
	{1, "bool"}, {1, "uint8"}, {2, "uint16"}, {4, "uint32"}, {8, "uint64"},
	{1, "int8"}, {2, "int16"}, {4, "int32"}, {8, "int64"},
	{2, "float16"}, {4, "float32"}, {8, "float64"}, {2, "bfloat16"}, {8, "complex64"},
}

// Valid reports whether d is one of the mlx_dtype values.
func (d DType) Valid() bool { return d >= 0 && d < numDTypes }

// Size returns the bytes per element (0 if d is not valid).
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypeInfo[d].size
}

// String returns MLX's name ("bfloat16").
func (d DType) String() string {
	if !d.Valid() {
		if d == DTypeUnset {
			return "unset"
		}
		return fmt.Sprintf("DType(%d)", int32(d))
	}
	return dtypeInfo[d].name
}

// MaxDims bounds the number of dimensions of an array.
const MaxDims = 32

// Array is an MLX array owned by a Lib. Operations are lazy: results are
// computed by Eval, or by Bytes which evaluates first. Shape and DType are
// fixed at creation. Close frees the C array; Lib.Close frees arrays that
// are still open. An Array may be used from any goroutine, but Close must
// not race with other uses of the same Array.
type Array struct {
	lib   *Lib
	dtype DType
	shape []int
	h     mlxc.Array // owned by the thread; 0 once freed
}

// DType returns the element type.
func (a *Array) DType() DType { return a.dtype }

// Shape returns a copy of the dimensions.
func (a *Array) Shape() []int { return append([]int(nil), a.shape...) }

// Lib returns the library that owns the array.
func (a *Array) Lib() *Lib { return a.lib }

// wrap registers a new C array with the Lib, reading its shape and dtype.
// It takes ownership of h even on error. Runs on the thread.
func (l *Lib) wrap(in *instance, s *mlxc.Symbols, h mlxc.Array) (*Array, error) {
	in.clear()
	ndim := s.ArrayNdim(h)
	dt := DType(s.ArrayDtype(h))
	err := in.failed("mlx_array_ndim", false)
	if err == nil && (ndim > MaxDims || !dt.Valid()) {
		err = fmt.Errorf("%w: MLX returned an array with %d dims of dtype %d", ErrArgument, ndim, dt)
	}
	shape := make([]int, 0, ndim)
	for i := 0; err == nil && i < int(ndim); i++ {
		in.clear()
		d := s.ArrayDim(h, int32(i))
		err = in.failed("mlx_array_dim", d < 0)
		shape = append(shape, int(d))
	}
	if err != nil {
		s.ArrayFree(h)
		return nil, err
	}
	a := &Array{lib: l, dtype: dt, shape: shape, h: h}
	l.arrays[a] = struct{}{}
	return a, nil
}

// use checks that a can be used on l. Runs on the thread.
func (l *Lib) use(as ...*Array) error {
	for _, a := range as {
		if a == nil {
			continue
		}
		if a.lib != l {
			return fmt.Errorf("%w: array belongs to another Lib", ErrArgument)
		}
		if a.h == 0 {
			return fmt.Errorf("%w: array", ErrClosed)
		}
	}
	return nil
}

// numel returns the element count of shape, checking every dimension and
// the total against overflow.
func numel(shape []int) (int, error) {
	if len(shape) > MaxDims {
		return 0, fmt.Errorf("%w: %d dimensions (max %d)", ErrArgument, len(shape), MaxDims)
	}
	n := uint64(1)
	for _, d := range shape {
		if d < 0 || d > math.MaxInt32 {
			return 0, fmt.Errorf("%w: dimension %d in shape %v", ErrArgument, d, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("%w: shape %v overflows", ErrArgument, shape)
		}
		n = lo
	}
	return int(n), nil
}

// FromBytes copies host data (little-endian elements, row-major) into a
// new MLX array of the given shape and dtype. len(data) must equal the
// element count times dt.Size(). Float16 and bfloat16 arrays are created as
// uint16 and reinterpreted with mlx_view, which works on every mlx-c build
// (x86-64 builds lack the half-precision C types).
func (l *Lib) FromBytes(data []byte, shape []int, dt DType) (*Array, error) {
	if !dt.Valid() {
		return nil, fmt.Errorf("%w: dtype %v", ErrArgument, dt)
	}
	n, err := numel(shape)
	if err != nil {
		return nil, err
	}
	hi, want := bits.Mul64(uint64(n), uint64(dt.Size()))
	if hi != 0 || uint64(len(data)) != want {
		return nil, fmt.Errorf("%w: %d bytes for shape %v of %v (want %d)", ErrArgument, len(data), shape, dt, want)
	}
	shape32 := make([]int32, len(shape))
	for i, d := range shape {
		shape32[i] = int32(d)
	}
	ptr := alignedData(data, dt.Size())
	var sp *int32
	if len(shape32) > 0 {
		sp = &shape32[0]
	}
	var out *Array
	err = l.do(func(in *instance, s *mlxc.Symbols) error {
		create := dt
		if dt == Float16 || dt == BFloat16 {
			create = Uint16
		}
		in.clear()
		h := s.ArrayNewData(ptr, sp, int32(len(shape32)), int32(create))
		if err := in.failed("mlx_array_new_data", h == 0); err != nil {
			if h != 0 {
				s.ArrayFree(h)
			}
			return err
		}
		if create != dt {
			v, err := l.viewAs(in, s, h, dt)
			if err != nil {
				return err
			}
			h = v
		}
		a, err := l.wrap(in, s, h)
		out = a
		return err
	})
	return out, err
}

// alignedData points at data's first element, or at an aligned copy of
// data when that element is not aligned to size bytes: MLX reads the
// elements through a typed pointer. It is nil for empty data.
func alignedData(data []byte, size int) unsafe.Pointer {
	if len(data) == 0 {
		return nil
	}
	ptr := unsafe.Pointer(&data[0])
	if uintptr(ptr)%uintptr(size) != 0 {
		aligned := make([]uint64, (len(data)+7)/8)
		ptr = unsafe.Pointer(&aligned[0])
		copy(unsafe.Slice((*byte)(ptr), len(data)), data)
	}
	return ptr
}

// viewAs reinterprets the array h as dtype dt with mlx_view and frees h,
// also on failure. Runs on the thread.
func (l *Lib) viewAs(in *instance, s *mlxc.Symbols, h mlxc.Array, dt DType) (mlxc.Array, error) {
	v := s.ArrayNew()
	in.clear()
	rc := s.View(&v, h, int32(dt), l.stream)
	s.ArrayFree(h)
	if err := in.result("mlx_view", rc); err != nil {
		if v != 0 {
			s.ArrayFree(v)
		}
		return 0, err
	}
	return v, nil
}

// unary runs one op producing one array. Runs on the thread.
func (l *Lib) unary(in *instance, s *mlxc.Symbols, op string, call func(res *mlxc.Array) int32) (*Array, error) {
	res := s.ArrayNew()
	in.clear()
	rc := call(&res)
	if err := in.result(op, rc); err != nil {
		if res != 0 {
			s.ArrayFree(res)
		}
		return nil, err
	}
	if res == 0 {
		return nil, &Error{Op: op, Msg: "empty result"}
	}
	return l.wrap(in, s, res)
}

// AsType returns a converted to dt (mlx_astype).
func (a *Array) AsType(dt DType) (*Array, error) {
	if !dt.Valid() {
		return nil, fmt.Errorf("%w: dtype %v", ErrArgument, dt)
	}
	l := a.lib
	var out *Array
	err := l.do(func(in *instance, s *mlxc.Symbols) error {
		if err := l.use(a); err != nil {
			return err
		}
		var err error
		out, err = l.unary(in, s, "mlx_astype", func(res *mlxc.Array) int32 {
			return s.Astype(res, a.h, int32(dt), l.stream)
		})
		return err
	})
	return out, err
}

// QuantizeParams select a quantization as mlx.core.quantize takes it.
type QuantizeParams struct {
	// Mode is "affine", "mxfp4", "nvfp4" or "mxfp8"; "" means "affine".
	Mode string
	// GroupSize and Bits; 0 leaves MLX's default for the mode.
	GroupSize int
	Bits      int
	// GlobalScale is an optional float32 array of size 1 (nvfp4 only;
	// needs mlx-c 0.6).
	GlobalScale *Array
}

func (p QuantizeParams) args(abi ABI) (mode string, gs, b mlxc.OptInt, err error) {
	mode = p.Mode
	if mode == "" {
		mode = "affine"
	}
	for _, c := range mode {
		if c == 0 {
			return "", 0, 0, fmt.Errorf("%w: mode %q", ErrArgument, mode)
		}
	}
	if p.GroupSize < 0 || p.GroupSize > math.MaxInt32 || p.Bits < 0 || p.Bits > math.MaxInt32 {
		return "", 0, 0, fmt.Errorf("%w: group size %d, bits %d", ErrArgument, p.GroupSize, p.Bits)
	}
	if p.GroupSize > 0 {
		gs = mlxc.SomeInt(int32(p.GroupSize))
	}
	if p.Bits > 0 {
		b = mlxc.SomeInt(int32(p.Bits))
	}
	if p.GlobalScale != nil && !abi.HasGlobalScale() {
		return "", 0, 0, fmt.Errorf("%w: global_scale needs mlx-c 0.6 or later (library is %s)", ErrABI, abi)
	}
	return mode, gs, b, nil
}

// Quantize quantizes w (mlx_quantize). The result is [weights, scales,
// biases] for affine and [weights, scales] for the fp modes.
func (l *Lib) Quantize(w *Array, p QuantizeParams) ([]*Array, error) {
	mode, gs, b, err := p.args(l.ABI())
	if err != nil {
		return nil, err
	}
	var out []*Array
	err = l.do(func(in *instance, s *mlxc.Symbols) error {
		if err := l.use(w, p.GlobalScale); err != nil {
			return err
		}
		vec := s.VectorArrayNew()
		in.clear()
		var rc int32
		if s.Quantize6 != nil {
			var g mlxc.Array
			if p.GlobalScale != nil {
				g = p.GlobalScale.h
			}
			rc = s.Quantize6(&vec, w.h, gs, b, mode, g, l.stream)
		} else {
			rc = s.Quantize4(&vec, w.h, gs, b, mode, l.stream)
		}
		err := in.result("mlx_quantize", rc)
		if err == nil {
			out, err = l.unpack(in, s, vec)
		}
		if vec != 0 {
			in.clear()
			err = errors.Join(err, in.result("mlx_vector_array_free", s.VectorArrayFree(vec)))
		}
		if err != nil {
			for _, a := range out {
				_ = a.free(in, s)
			}
			out = nil
		}
		return err
	})
	return out, err
}

// unpack takes the arrays out of a vector (each a new reference).
func (l *Lib) unpack(in *instance, s *mlxc.Symbols, vec mlxc.VectorArray) ([]*Array, error) {
	in.clear()
	n := s.VectorArraySize(vec)
	if err := in.failed("mlx_vector_array_size", false); err != nil {
		return nil, err
	}
	if n < 2 || n > 3 {
		return nil, &Error{Op: "mlx_quantize", Msg: fmt.Sprintf("returned %d arrays, want 2 or 3", n)}
	}
	out := make([]*Array, 0, n)
	for i := uintptr(0); i < n; i++ {
		h := s.ArrayNew()
		in.clear()
		if err := in.result("mlx_vector_array_get", s.VectorArrayGet(&h, vec, i)); err != nil {
			if h != 0 {
				s.ArrayFree(h)
			}
			return out, err
		}
		a, err := l.wrap(in, s, h)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Dequantize reverses Quantize (mlx_dequantize). biases must be nil for the
// fp modes. out is the result dtype, or DTypeUnset for MLX's default.
func (l *Lib) Dequantize(w, scales, biases *Array, p QuantizeParams, out DType) (*Array, error) {
	mode, gs, b, err := p.args(l.ABI())
	if err != nil {
		return nil, err
	}
	var dt mlxc.OptDType
	switch {
	case out == DTypeUnset:
	case out.Valid():
		dt = mlxc.SomeDType(int32(out))
	default:
		return nil, fmt.Errorf("%w: dtype %v", ErrArgument, out)
	}
	if w == nil || scales == nil {
		return nil, fmt.Errorf("%w: dequantize needs weights and scales", ErrArgument)
	}
	var res *Array
	err = l.do(func(in *instance, s *mlxc.Symbols) error {
		if err := l.use(w, scales, biases, p.GlobalScale); err != nil {
			return err
		}
		var bh, g mlxc.Array
		if biases != nil {
			bh = biases.h
		}
		if p.GlobalScale != nil {
			g = p.GlobalScale.h
		}
		var err error
		res, err = l.unary(in, s, "mlx_dequantize", func(r *mlxc.Array) int32 {
			if s.Dequantize6 != nil {
				return s.Dequantize6(r, w.h, scales.h, bh, gs, b, mode, g, dt, l.stream)
			}
			return s.Dequantize4(r, w.h, scales.h, bh, gs, b, mode, dt, l.stream)
		})
		return err
	})
	return res, err
}

// Eval computes arrays together (mlx_eval). Siblings such as the outputs of
// one Quantize are computed once.
func (l *Lib) Eval(arrays ...*Array) error {
	if len(arrays) == 0 {
		return nil
	}
	return l.do(func(in *instance, s *mlxc.Symbols) error {
		if err := l.use(arrays...); err != nil {
			return err
		}
		hs := make([]mlxc.Array, 0, len(arrays))
		for _, a := range arrays {
			if a != nil {
				hs = append(hs, a.h)
			}
		}
		if len(hs) == 0 {
			return nil
		}
		in.clear()
		vec := s.VectorArrayNewData(&hs[0], uintptr(len(hs)))
		if err := in.failed("mlx_vector_array_new_data", vec == 0); err != nil {
			if vec != 0 {
				s.VectorArrayFree(vec)
			}
			return err
		}
		in.clear()
		err := in.result("mlx_eval", s.Eval(vec))
		in.clear()
		return errors.Join(err, in.result("mlx_vector_array_free", s.VectorArrayFree(vec)))
	})
}

// Eval computes a (mlx_array_eval).
func (a *Array) Eval() error {
	l := a.lib
	return l.do(func(in *instance, s *mlxc.Symbols) error {
		if err := l.use(a); err != nil {
			return err
		}
		in.clear()
		return in.result("mlx_array_eval", s.ArrayEval(a.h))
	})
}

// Bytes evaluates a and returns a copy of its elements, row-major and
// little-endian. A strided result is made contiguous first.
func (a *Array) Bytes() ([]byte, error) {
	l := a.lib
	n, err := numel(a.shape)
	if err != nil {
		return nil, err
	}
	want := uint64(n) * uint64(a.dtype.Size())
	var out []byte
	err = l.do(func(in *instance, s *mlxc.Symbols) error {
		if err := l.use(a); err != nil {
			return err
		}
		h := a.h
		in.clear()
		if err := in.result("mlx_array_eval", s.ArrayEval(h)); err != nil {
			return err
		}
		var contiguous bool
		in.clear()
		if err := in.result("_mlx_array_is_row_contiguous", s.ArrayIsRowContiguous(&contiguous, h)); err != nil {
			return err
		}
		if !contiguous {
			c := s.ArrayNew()
			in.clear()
			err := in.result("mlx_contiguous", s.Contiguous(&c, h, false, l.stream))
			if err == nil {
				in.clear()
				err = in.result("mlx_array_eval", s.ArrayEval(c))
			}
			if c != 0 {
				defer s.ArrayFree(c)
			}
			if err != nil {
				return err
			}
			h = c
		}
		in.clear()
		nb := s.ArrayNbytes(h)
		if err := in.failed("mlx_array_nbytes", false); err != nil {
			return err
		}
		if uint64(nb) != want {
			return &Error{Op: "mlx_array_nbytes", Msg: fmt.Sprintf("%d bytes for shape %v of %v, want %d", nb, a.shape, a.dtype, want)}
		}
		if nb == 0 {
			out = []byte{}
			return nil
		}
		in.clear()
		p := s.ArrayDataUint8(h)
		if err := in.failed("mlx_array_data_uint8", p == nil); err != nil {
			return err
		}
		out = make([]byte, nb)
		copy(out, unsafe.Slice(p, nb))
		return nil
	})
	return out, err
}

// free releases the C array. Runs on the thread.
func (a *Array) free(in *instance, s *mlxc.Symbols) error {
	if a.h == 0 {
		return nil
	}
	in.clear()
	err := in.result("mlx_array_free", s.ArrayFree(a.h))
	a.h = 0
	delete(a.lib.arrays, a)
	return err
}

// Close frees the C array. It is idempotent, and a no-op after the Lib
// was closed (Lib.Close freed the array).
func (a *Array) Close() error {
	if a == nil {
		return nil
	}
	err := a.lib.do(func(in *instance, s *mlxc.Symbols) error { return a.free(in, s) })
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
