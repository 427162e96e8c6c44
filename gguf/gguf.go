package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Errors. Every error the package returns wraps one of these, with context
// (KV index and key, tensor index and name) in the message.
var (
	// ErrFormat reports a malformed or unsupported GGUF file.
	ErrFormat = errors.New("gguf: invalid format")
	// ErrInvalid reports caller input that cannot be written as a GGUF file
	// llama.cpp loads (duplicate key, name too long, bad alignment, ...), or
	// a bad argument.
	ErrInvalid = errors.New("gguf: invalid argument")
	// ErrType reports a metadata value of a different type than asked for.
	ErrType = errors.New("gguf: wrong value type")
	// ErrNotFound reports a missing key or tensor.
	ErrNotFound = errors.New("gguf: not found")
	// ErrNonFinite reports a NaN or infinite input to a block quantizer (or
	// one whose scale overflows float32), for which gguf-py's output is
	// platform-dependent garbage.
	ErrNonFinite = errors.New("gguf: non-finite value")
)

// File format constants.
const (
	// fileMagic is the first four bytes of a GGUF file.
	fileMagic = "GGUF"
	// formatVersion is the GGUF version the writer produces. The reader accepts
	// versions 2 and 3 (same little-endian layout; v1 had 32-bit counts).
	formatVersion = 3
	// defaultAlignment is the data alignment when general.alignment is absent.
	defaultAlignment = 32
	// keyAlignment is the metadata key that sets the alignment (UINT32).
	keyAlignment = "general.alignment"
)

var le = binary.LittleEndian

// padding returns the number of zero bytes that follow offset off so that the
// next byte is a multiple of align. align must be a power of two. This is the
// one alignment rule of the package; the reader and the writer both use it
// (via alignUp). An already aligned offset needs no padding.
func padding(off, align uint64) uint64 {
	return (align - off%align) % align
}

// alignUp returns off rounded up to a multiple of align, or an error if that
// overflows int64 (file offsets are int64 in Go).
func alignUp(off, align uint64) (uint64, error) {
	p := padding(off, align)
	if off > math.MaxInt64-p {
		return 0, fmt.Errorf("%w: offset %d aligned to %d overflows", ErrInvalid, off, align)
	}
	return off + p, nil
}

// validReadAlignment mirrors gguf.cpp: a non-zero power of two.
func validReadAlignment(a uint32) bool { return a != 0 && a&(a-1) == 0 }

// validWriteAlignment is stricter than the reader: a power of two that is
// also a multiple of 8, as the GGUF specification asks, so the files satisfy
// both llama.cpp (power of two) and the specification (multiple of 8).
func validWriteAlignment(a uint32) bool { return validReadAlignment(a) && a >= 8 }
