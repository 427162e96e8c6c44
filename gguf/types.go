package gguf

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Type is a ggml tensor type (enum ggml_type in ggml.h). The numeric values
// are the ids stored in a GGUF tensor info and never change. Every property of
// a type lives in one trait table (typeTraits); the table follows ggml at
// commit d99724f2 (ggml-org/ggml, 2026-08-21), src/ggml.c type_traits and
// src/ggml-common.h block structs.
//
// The constant names use ggml's spelling (Q4_0, IQ2_XXS) so they can be
// matched against llama.cpp output and documentation by eye.
type Type uint32

// The ggml tensor types. Ids 4, 5, 31-33 and 36-38 belong to types that ggml
// removed; they are not valid in a GGUF file (llama.cpp rejects them).
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
	NVFP4   Type = 40
	Q1_0    Type = 41
	Q2_0    Type = 42

	// typeCount is GGML_TYPE_COUNT: every valid id is below it.
	typeCount Type = 43
)

type typeTrait struct {
	name      string // gguf-py GGMLQuantizationType name; "" for a removed id
	blockSize uint64 // elements per block; 0 for a removed id
	typeSize  uint64 // bytes per block
	quantized bool   // a block-quantized type (block size > 1 or packed)
}

// typeTraits is indexed by Type. Sizes are ggml's (ggml-common.h
// static_asserts). Note Q8_1: ggml's block is 36 bytes (fp16 d and s);
// gguf-py 0.19.0's GGML_QUANT_SIZES still says 40, which is stale.
var typeTraits = [typeCount]typeTrait{
	F32:     {"F32", 1, 4, false},
	F16:     {"F16", 1, 2, false},
	Q4_0:    {"Q4_0", 32, 18, true},
	Q4_1:    {"Q4_1", 32, 20, true},
	Q5_0:    {"Q5_0", 32, 22, true},
	Q5_1:    {"Q5_1", 32, 24, true},
	Q8_0:    {"Q8_0", 32, 34, true},
	Q8_1:    {"Q8_1", 32, 36, true},
	Q2_K:    {"Q2_K", 256, 84, true},
	Q3_K:    {"Q3_K", 256, 110, true},
	Q4_K:    {"Q4_K", 256, 144, true},
	Q5_K:    {"Q5_K", 256, 176, true},
	Q6_K:    {"Q6_K", 256, 210, true},
	Q8_K:    {"Q8_K", 256, 292, true},
	IQ2_XXS: {"IQ2_XXS", 256, 66, true},
	IQ2_XS:  {"IQ2_XS", 256, 74, true},
	IQ3_XXS: {"IQ3_XXS", 256, 98, true},
	IQ1_S:   {"IQ1_S", 256, 50, true},
	IQ4_NL:  {"IQ4_NL", 32, 18, true},
	IQ3_S:   {"IQ3_S", 256, 110, true},
	IQ2_S:   {"IQ2_S", 256, 82, true},
	IQ4_XS:  {"IQ4_XS", 256, 136, true},
	I8:      {"I8", 1, 1, false},
	I16:     {"I16", 1, 2, false},
	I32:     {"I32", 1, 4, false},
	I64:     {"I64", 1, 8, false},
	F64:     {"F64", 1, 8, false},
	IQ1_M:   {"IQ1_M", 256, 56, true},
	BF16:    {"BF16", 1, 2, false},
	TQ1_0:   {"TQ1_0", 256, 54, true},
	TQ2_0:   {"TQ2_0", 256, 66, true},
	MXFP4:   {"MXFP4", 32, 17, true},
	NVFP4:   {"NVFP4", 64, 36, true},
	Q1_0:    {"Q1_0", 128, 18, true},
	Q2_0:    {"Q2_0", 64, 18, true},
}

// Valid reports whether t is a type a GGUF file may hold: an id below
// typeCount that ggml has not removed.
func (t Type) Valid() bool { return t < typeCount && typeTraits[t].blockSize != 0 }

// String returns the type name as gguf-py spells it ("Q4_0", "BF16"), or
// "Type(N)" for an invalid id.
func (t Type) String() string {
	if !t.Valid() {
		return fmt.Sprintf("Type(%d)", uint32(t))
	}
	return typeTraits[t].name
}

// BlockSize returns the number of elements in one block (1 for plain types,
// 0 for an invalid id).
func (t Type) BlockSize() uint64 {
	if t >= typeCount {
		return 0
	}
	return typeTraits[t].blockSize
}

// TypeSize returns the number of bytes of one block (0 for an invalid id).
func (t Type) TypeSize() uint64 {
	if t >= typeCount {
		return 0
	}
	return typeTraits[t].typeSize
}

// Quantized reports whether t is a block-quantized type.
func (t Type) Quantized() bool { return t.Valid() && typeTraits[t].quantized }

// ParseType returns the type named s, case-insensitively ("q4_0", "BF16").
// An unknown name is an error wrapping ErrInvalid.
func ParseType(s string) (Type, error) {
	for i := range typeTraits {
		if typeTraits[i].name != "" && strings.EqualFold(typeTraits[i].name, s) {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown tensor type %q", ErrInvalid, s)
}

// RowSize returns the number of bytes of a row of ne0 elements of type t.
// ne0 must be a multiple of the block size.
func (t Type) RowSize(ne0 uint64) (uint64, error) {
	if !t.Valid() {
		return 0, fmt.Errorf("%w: invalid tensor type %d", ErrInvalid, uint32(t))
	}
	bs := typeTraits[t].blockSize
	if ne0%bs != 0 {
		return 0, fmt.Errorf("%w: row of %d elements is not a multiple of the %s block size %d",
			ErrInvalid, ne0, t, bs)
	}
	hi, lo := bits.Mul64(ne0/bs, typeTraits[t].typeSize)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("%w: row of %d %s elements overflows", ErrInvalid, ne0, t)
	}
	return lo, nil
}

// maxDims is the largest number of dimensions a GGUF tensor may have
// (GGML_MAX_DIMS).
const maxDims = 4

// maxNameLen is the longest tensor name llama.cpp accepts, in bytes
// (GGML_MAX_NAME is 64 including the terminating NUL).
const maxNameLen = 63

// numElements returns the product of shape, or an error if it does not fit an
// int64 (llama.cpp's limit). An empty shape has one element.
func numElements(shape []uint64) (uint64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d > math.MaxInt64 {
			return 0, fmt.Errorf("%w: dimension %d does not fit int64", ErrInvalid, d)
		}
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("%w: element count of shape %v overflows int64", ErrInvalid, shape)
		}
		n = lo
	}
	return n, nil
}

// tensorSize returns the number of data bytes (without padding) of a tensor of
// type t and ggml shape (shape[0] is the innermost, contiguous dimension). It
// checks what llama.cpp checks: at most maxDims dimensions, an element count
// that fits int64, shape[0] a multiple of the block size, and a byte size
// that fits int64.
func tensorSize(t Type, shape []uint64) (uint64, error) {
	if !t.Valid() {
		return 0, fmt.Errorf("%w: invalid tensor type %d", ErrInvalid, uint32(t))
	}
	if len(shape) > maxDims {
		return 0, fmt.Errorf("%w: %d dimensions, at most %d allowed", ErrInvalid, len(shape), maxDims)
	}
	n, err := numElements(shape)
	if err != nil {
		return 0, err
	}
	ne0 := uint64(1)
	if len(shape) > 0 {
		ne0 = shape[0]
	}
	bs := typeTraits[t].blockSize
	if ne0%bs != 0 {
		return 0, fmt.Errorf("%w: %s row of %d elements is not a multiple of the block size %d",
			ErrInvalid, t, ne0, bs)
	}
	hi, lo := bits.Mul64(n/bs, typeTraits[t].typeSize)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("%w: byte size of %s tensor %v overflows", ErrInvalid, t, shape)
	}
	return lo, nil
}

// FileType is the value of general.file_type: llama.cpp's llama_ftype
// numbering (gguf-py LlamaFileType), which differs from ggml's ggml_ftype.
type FileType uint32

// The llama_ftype values a converter writes.
const (
	FileTypeAllF32      FileType = 0
	FileTypeMostlyF16   FileType = 1
	FileTypeMostlyQ4_0  FileType = 2
	FileTypeMostlyQ4_1  FileType = 3
	FileTypeMostlyQ8_0  FileType = 7
	FileTypeMostlyQ5_0  FileType = 8
	FileTypeMostlyQ5_1  FileType = 9
	FileTypeMostlyBF16  FileType = 32
	FileTypeMostlyTQ1_0 FileType = 36
	FileTypeMostlyTQ2_0 FileType = 37
	FileTypeMostlyMXFP4 FileType = 38 // LLAMA_FTYPE_MOSTLY_MXFP4_MOE
	FileTypeMostlyNVFP4 FileType = 39
	FileTypeMostlyQ1_0  FileType = 40
	fileTypeGuessed     FileType = 1024 // "guessed"; never written to a file
)

var fileTypeNames = map[FileType]string{
	FileTypeAllF32:      "ALL_F32",
	FileTypeMostlyF16:   "MOSTLY_F16",
	FileTypeMostlyQ4_0:  "MOSTLY_Q4_0",
	FileTypeMostlyQ4_1:  "MOSTLY_Q4_1",
	FileTypeMostlyQ8_0:  "MOSTLY_Q8_0",
	FileTypeMostlyQ5_0:  "MOSTLY_Q5_0",
	FileTypeMostlyQ5_1:  "MOSTLY_Q5_1",
	10:                  "MOSTLY_Q2_K",
	11:                  "MOSTLY_Q3_K_S",
	12:                  "MOSTLY_Q3_K_M",
	13:                  "MOSTLY_Q3_K_L",
	14:                  "MOSTLY_Q4_K_S",
	15:                  "MOSTLY_Q4_K_M",
	16:                  "MOSTLY_Q5_K_S",
	17:                  "MOSTLY_Q5_K_M",
	18:                  "MOSTLY_Q6_K",
	19:                  "MOSTLY_IQ2_XXS",
	20:                  "MOSTLY_IQ2_XS",
	21:                  "MOSTLY_Q2_K_S",
	22:                  "MOSTLY_IQ3_XS",
	23:                  "MOSTLY_IQ3_XXS",
	24:                  "MOSTLY_IQ1_S",
	25:                  "MOSTLY_IQ4_NL",
	26:                  "MOSTLY_IQ3_S",
	27:                  "MOSTLY_IQ3_M",
	28:                  "MOSTLY_IQ2_S",
	29:                  "MOSTLY_IQ2_M",
	30:                  "MOSTLY_IQ4_XS",
	31:                  "MOSTLY_IQ1_M",
	FileTypeMostlyBF16:  "MOSTLY_BF16",
	FileTypeMostlyTQ1_0: "MOSTLY_TQ1_0",
	FileTypeMostlyTQ2_0: "MOSTLY_TQ2_0",
	FileTypeMostlyMXFP4: "MOSTLY_MXFP4_MOE",
	FileTypeMostlyNVFP4: "MOSTLY_NVFP4",
	FileTypeMostlyQ1_0:  "MOSTLY_Q1_0",
	fileTypeGuessed:     "GUESSED",
}

// String returns gguf-py's LlamaFileType name ("MOSTLY_Q8_0").
func (f FileType) String() string {
	if s, ok := fileTypeNames[f]; ok {
		return s
	}
	return fmt.Sprintf("FileType(%d)", uint32(f))
}
