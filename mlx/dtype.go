package mlx

import (
	"fmt"
)

// DType is an element type as MLX and safetensors know it. The zero value is
// Invalid. Every property of a DType lives in one trait table (dtypeTraits);
// add a type by adding a row there.
type DType uint8

// The dtypes mlxconv reads and writes. F8E4M3 and F8E5M2 are storage-only:
// they are read from and written to safetensors files as raw bytes.
const (
	Invalid DType = iota
	Bool
	U8
	U16
	U32
	U64
	I8
	I16
	I32
	I64
	F16
	BF16
	F32
	F64
	F8E4M3
	F8E5M2
	C64
	numDTypes
)

type dtypeTrait struct {
	size        int    // bytes per element
	safetensors string // name in a safetensors header
	mlxName     string // name as MLX/numpy/config.json spell it
	float       bool   // a floating-point type MLX casts with --dtype
}

var dtypeTraits = [numDTypes]dtypeTrait{
	Invalid: {0, "", "invalid", false},
	Bool:    {1, "BOOL", "bool", false},
	U8:      {1, "U8", "uint8", false},
	U16:     {2, "U16", "uint16", false},
	U32:     {4, "U32", "uint32", false},
	U64:     {8, "U64", "uint64", false},
	I8:      {1, "I8", "int8", false},
	I16:     {2, "I16", "int16", false},
	I32:     {4, "I32", "int32", false},
	I64:     {8, "I64", "int64", false},
	F16:     {2, "F16", "float16", true},
	BF16:    {2, "BF16", "bfloat16", true},
	F32:     {4, "F32", "float32", true},
	F64:     {8, "F64", "float64", true},
	F8E4M3:  {1, "F8_E4M3", "float8_e4m3fn", false},
	F8E5M2:  {1, "F8_E5M2", "float8_e5m2", false},
	C64:     {8, "C64", "complex64", false},
}

// Size returns the number of bytes of one element (0 for Invalid).
func (d DType) Size() int {
	if d >= numDTypes {
		return 0
	}
	return dtypeTraits[d].size
}

// IsFloat reports whether d is a real floating-point type (F16, BF16, F32,
// F64): the types mlx_lm.convert casts with --dtype.
func (d DType) IsFloat() bool { return d < numDTypes && dtypeTraits[d].float }

// Valid reports whether d is a known, non-Invalid dtype.
func (d DType) Valid() bool { return d > Invalid && d < numDTypes }

// SafetensorsName returns the dtype string of a safetensors header ("BF16").
func (d DType) SafetensorsName() string {
	if d >= numDTypes {
		return ""
	}
	return dtypeTraits[d].safetensors
}

// String returns the MLX/numpy name ("bfloat16").
func (d DType) String() string {
	if d >= numDTypes {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypeTraits[d].mlxName
}

// ErrDType is returned (wrapped) for an unknown or unsupported dtype.
var ErrDType = fmt.Errorf("mlx: unknown dtype")

// ParseSafetensorsDType maps a safetensors header dtype string to a DType.
// Unknown strings are an error wrapping ErrDType, never a default.
func ParseSafetensorsDType(s string) (DType, error) {
	for d := Bool; d < numDTypes; d++ {
		if dtypeTraits[d].safetensors == s {
			return d, nil
		}
	}
	return Invalid, fmt.Errorf("%w %q", ErrDType, s)
}

// ParseDType maps an MLX/numpy dtype name ("float16", "bfloat16", ...) to a
// DType. Unknown names are an error wrapping ErrDType.
func ParseDType(s string) (DType, error) {
	for d := Bool; d < numDTypes; d++ {
		if dtypeTraits[d].mlxName == s {
			return d, nil
		}
	}
	return Invalid, fmt.Errorf("%w %q", ErrDType, s)
}
