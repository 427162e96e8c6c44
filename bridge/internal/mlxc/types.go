package mlxc

import (
	"errors"
	"unsafe"
)

// Handle types. Each is `typedef struct { void* ctx; } mlx_xxx;` in C, an
// 8-byte INTEGER-class aggregate passed and returned in one general-purpose
// register, so a uintptr carries it exactly. Zero means "empty" ({NULL}).
type (
	Array       uintptr // mlx_array
	Stream      uintptr // mlx_stream
	VectorArray uintptr // mlx_vector_array
	String      uintptr // mlx_string
)

// OptInt is mlx_optional_int ({int value; bool has_value;}, 8 bytes) packed
// into one integer register: value in the low 32 bits, has_value in byte 4.
// The zero OptInt is "no value".
type OptInt uint64

// SomeInt returns an OptInt holding v.
func SomeInt(v int32) OptInt { return OptInt(uint64(uint32(v)) | 1<<32) }

// Value returns the value and whether it is present.
func (o OptInt) Value() (int32, bool) { return int32(uint32(o)), o>>32&0xff != 0 }

// OptDType is mlx_optional_dtype ({mlx_dtype value; bool has_value;}),
// packed like OptInt.
type OptDType uint64

// SomeDType returns an OptDType holding the mlx_dtype value d.
func SomeDType(d int32) OptDType { return OptDType(SomeInt(d)) }

// ABI is the mlx-c API generation detected from the exported symbols.
type ABI uint8

const (
	ABIUnknown ABI = iota
	// ABI04 is mlx-c 0.4.x: optional group_size/bits, mlx_to_fp8.
	ABI04
	// ABI05 is mlx-c 0.5.x: adds mlx_cuda_is_available and friends.
	ABI05
	// ABI06 is mlx-c 0.6.0 and later: quantize and dequantize take a
	// global_scale argument (same symbol names, one more parameter).
	ABI06
)

// Probe symbols, newest first (mlxc.md §1.1).
const (
	SymABI06 = "mlx_bartlett"          // >= 0.6.0
	SymABI05 = "mlx_cuda_is_available" // >= 0.5.0
	SymABI04 = "mlx_to_fp8"            // >= 0.4.0, the oldest supported
)

// ErrUnsupported is wrapped when this build cannot load libraries at all
// (platform not supported by purego without cgo, or the nomlx tag).
var ErrUnsupported = errors.New("bridge: this build cannot load libmlxc")

// ErrSymbol is wrapped when required symbols are missing.
var ErrSymbol = errors.New("bridge: libmlxc lacks required symbols")

// ErrABI is wrapped when the library's ABI is older than mlx-c 0.4.0.
var ErrABI = errors.New("bridge: unsupported mlx-c version")

// ErrLoad is wrapped when the dynamic loader cannot open the file.
var ErrLoad = errors.New("bridge: cannot load libmlxc")

// Symbols are the bound C functions. Each field's comment is the C
// prototype it calls. Fields for another ABI generation are nil.
type Symbols struct {
	// void mlx_set_error_handler(mlx_error_handler_func handler, void* data, void (*dtor)(void*));
	SetErrorHandler func(handler, data, dtor uintptr)
	// int mlx_version(mlx_string* str);
	Version func(res *String) int32
	// mlx_string mlx_string_new(void);
	StringNew func() String
	// const char* mlx_string_data(mlx_string str);
	StringData func(s String) string
	// int mlx_string_free(mlx_string str);
	StringFree func(s String) int32

	// mlx_array mlx_array_new(void);
	ArrayNew func() Array
	// int mlx_array_free(mlx_array arr);
	ArrayFree func(a Array) int32
	// mlx_array mlx_array_new_data(const void* data, const int* shape, int dim, mlx_dtype dtype);
	ArrayNewData func(data unsafe.Pointer, shape *int32, dim int32, dtype int32) Array
	// size_t mlx_array_nbytes(const mlx_array arr);
	ArrayNbytes func(a Array) uintptr
	// size_t mlx_array_ndim(const mlx_array arr);
	ArrayNdim func(a Array) uintptr
	// int mlx_array_dim(const mlx_array arr, int dim);
	ArrayDim func(a Array, dim int32) int32
	// mlx_dtype mlx_array_dtype(const mlx_array arr);
	ArrayDtype func(a Array) int32
	// const uint8_t* mlx_array_data_uint8(const mlx_array arr);  (raw bytes of any dtype)
	ArrayDataUint8 func(a Array) *byte
	// int mlx_array_eval(mlx_array arr);
	ArrayEval func(a Array) int32
	// int _mlx_array_is_row_contiguous(bool* res, const mlx_array arr);
	ArrayIsRowContiguous func(res *bool, a Array) int32

	// mlx_vector_array mlx_vector_array_new_data(const mlx_array* data, size_t size);
	VectorArrayNewData func(data *Array, size uintptr) VectorArray
	// mlx_vector_array mlx_vector_array_new(void);
	VectorArrayNew func() VectorArray
	// int mlx_vector_array_free(mlx_vector_array vec);
	VectorArrayFree func(v VectorArray) int32
	// size_t mlx_vector_array_size(mlx_vector_array vec);
	VectorArraySize func(v VectorArray) uintptr
	// int mlx_vector_array_get(mlx_array* res, const mlx_vector_array vec, size_t idx);
	VectorArrayGet func(res *Array, v VectorArray, idx uintptr) int32
	// int mlx_eval(const mlx_vector_array outputs);
	Eval func(v VectorArray) int32

	// int mlx_astype(mlx_array* res, const mlx_array a, mlx_dtype dtype, const mlx_stream s);
	Astype func(res *Array, a Array, dtype int32, s Stream) int32
	// int mlx_view(mlx_array* res, const mlx_array a, mlx_dtype dtype, const mlx_stream s);
	View func(res *Array, a Array, dtype int32, s Stream) int32
	// int mlx_contiguous(mlx_array* res, const mlx_array a, bool allow_col_major, const mlx_stream s);
	Contiguous func(res *Array, a Array, allowColMajor bool, s Stream) int32

	// ABI06:
	// int mlx_quantize(mlx_vector_array* res, const mlx_array w, mlx_optional_int group_size,
	//                  mlx_optional_int bits, const char* mode, const mlx_array global_scale, const mlx_stream s);
	Quantize6 func(res *VectorArray, w Array, groupSize, bits OptInt, mode string, globalScale Array, s Stream) int32
	// ABI04, ABI05:
	// int mlx_quantize(mlx_vector_array* res, const mlx_array w, mlx_optional_int group_size,
	//                  mlx_optional_int bits, const char* mode, const mlx_stream s);
	Quantize4 func(res *VectorArray, w Array, groupSize, bits OptInt, mode string, s Stream) int32
	// ABI06:
	// int mlx_dequantize(mlx_array* res, const mlx_array w, const mlx_array scales, const mlx_array biases,
	//                    mlx_optional_int group_size, mlx_optional_int bits, const char* mode,
	//                    const mlx_array global_scale, mlx_optional_dtype dtype, const mlx_stream s);
	Dequantize6 func(res *Array, w, scales, biases Array, groupSize, bits OptInt, mode string, globalScale Array, dtype OptDType, s Stream) int32
	// ABI04, ABI05:
	// int mlx_dequantize(mlx_array* res, const mlx_array w, const mlx_array scales, const mlx_array biases,
	//                    mlx_optional_int group_size, mlx_optional_int bits, const char* mode,
	//                    mlx_optional_dtype dtype, const mlx_stream s);
	Dequantize4 func(res *Array, w, scales, biases Array, groupSize, bits OptInt, mode string, dtype OptDType, s Stream) int32

	// mlx_stream mlx_default_cpu_stream_new(void);
	DefaultCPUStreamNew func() Stream
	// mlx_stream mlx_default_gpu_stream_new(void);
	DefaultGPUStreamNew func() Stream
	// int mlx_stream_free(mlx_stream stream);
	StreamFree func(s Stream) int32
	// int mlx_synchronize(mlx_stream stream);
	Synchronize func(s Stream) int32
	// int mlx_metal_is_available(bool* res);
	MetalIsAvailable func(res *bool) int32
	// int mlx_cuda_is_available(bool* res);  (ABI05 and later; nil before)
	CudaIsAvailable func(res *bool) int32

	// int mlx_set_cache_limit(size_t* res, size_t limit);
	SetCacheLimit func(res *uintptr, limit uintptr) int32
	// int mlx_clear_cache(void);
	ClearCache func() int32
}

// binding ties a C symbol name to the Symbols field it fills.
type binding struct {
	name string
	fptr func(*Symbols) any
	min  ABI // the first ABI generation exporting it with this prototype
	max  ABI // the last ABI generation with this prototype (ABIUnknown: no limit)
}

// bindings is the one table of symbols Load resolves. Entries with min
// ABI04 are required for every supported library.
var bindings = []binding{
	{"mlx_set_error_handler", func(s *Symbols) any { return &s.SetErrorHandler }, ABI04, 0},
	{"mlx_version", func(s *Symbols) any { return &s.Version }, ABI04, 0},
	{"mlx_string_new", func(s *Symbols) any { return &s.StringNew }, ABI04, 0},
	{"mlx_string_data", func(s *Symbols) any { return &s.StringData }, ABI04, 0},
	{"mlx_string_free", func(s *Symbols) any { return &s.StringFree }, ABI04, 0},
	{"mlx_array_new", func(s *Symbols) any { return &s.ArrayNew }, ABI04, 0},
	{"mlx_array_free", func(s *Symbols) any { return &s.ArrayFree }, ABI04, 0},
	{"mlx_array_new_data", func(s *Symbols) any { return &s.ArrayNewData }, ABI04, 0},
	{"mlx_array_nbytes", func(s *Symbols) any { return &s.ArrayNbytes }, ABI04, 0},
	{"mlx_array_ndim", func(s *Symbols) any { return &s.ArrayNdim }, ABI04, 0},
	{"mlx_array_dim", func(s *Symbols) any { return &s.ArrayDim }, ABI04, 0},
	{"mlx_array_dtype", func(s *Symbols) any { return &s.ArrayDtype }, ABI04, 0},
	{"mlx_array_data_uint8", func(s *Symbols) any { return &s.ArrayDataUint8 }, ABI04, 0},
	{"mlx_array_eval", func(s *Symbols) any { return &s.ArrayEval }, ABI04, 0},
	{"_mlx_array_is_row_contiguous", func(s *Symbols) any { return &s.ArrayIsRowContiguous }, ABI04, 0},
	{"mlx_vector_array_new", func(s *Symbols) any { return &s.VectorArrayNew }, ABI04, 0},
	{"mlx_vector_array_new_data", func(s *Symbols) any { return &s.VectorArrayNewData }, ABI04, 0},
	{"mlx_vector_array_free", func(s *Symbols) any { return &s.VectorArrayFree }, ABI04, 0},
	{"mlx_vector_array_size", func(s *Symbols) any { return &s.VectorArraySize }, ABI04, 0},
	{"mlx_vector_array_get", func(s *Symbols) any { return &s.VectorArrayGet }, ABI04, 0},
	{"mlx_eval", func(s *Symbols) any { return &s.Eval }, ABI04, 0},
	{"mlx_astype", func(s *Symbols) any { return &s.Astype }, ABI04, 0},
	{"mlx_view", func(s *Symbols) any { return &s.View }, ABI04, 0},
	{"mlx_contiguous", func(s *Symbols) any { return &s.Contiguous }, ABI04, 0},
	{"mlx_quantize", func(s *Symbols) any { return &s.Quantize6 }, ABI06, 0},
	{"mlx_quantize", func(s *Symbols) any { return &s.Quantize4 }, ABI04, ABI05},
	{"mlx_dequantize", func(s *Symbols) any { return &s.Dequantize6 }, ABI06, 0},
	{"mlx_dequantize", func(s *Symbols) any { return &s.Dequantize4 }, ABI04, ABI05},
	{"mlx_default_cpu_stream_new", func(s *Symbols) any { return &s.DefaultCPUStreamNew }, ABI04, 0},
	{"mlx_default_gpu_stream_new", func(s *Symbols) any { return &s.DefaultGPUStreamNew }, ABI04, 0},
	{"mlx_stream_free", func(s *Symbols) any { return &s.StreamFree }, ABI04, 0},
	{"mlx_synchronize", func(s *Symbols) any { return &s.Synchronize }, ABI04, 0},
	{"mlx_metal_is_available", func(s *Symbols) any { return &s.MetalIsAvailable }, ABI04, 0},
	{"mlx_cuda_is_available", func(s *Symbols) any { return &s.CudaIsAvailable }, ABI05, 0},
	{"mlx_set_cache_limit", func(s *Symbols) any { return &s.SetCacheLimit }, ABI04, 0},
	{"mlx_clear_cache", func(s *Symbols) any { return &s.ClearCache }, ABI04, 0},
}

// Library is a loaded libmlxc: its path, the dynamic-loader handle, the
// detected ABI generation and the bound functions.
type Library struct {
	Path   string
	Handle uintptr
	ABI    ABI
	Sym    Symbols
}

// String returns "0.4", "0.5", "0.6+" or "unknown".
func (a ABI) String() string {
	switch a {
	case ABI04:
		return "0.4"
	case ABI05:
		return "0.5"
	case ABI06:
		return "0.6+"
	}
	return "unknown"
}

// HasGlobalScale reports whether quantize and dequantize take global_scale.
func (a ABI) HasGlobalScale() bool { return a >= ABI06 }
