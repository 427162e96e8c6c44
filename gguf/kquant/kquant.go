package kquant

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/mlxconv/mlxconv/gguf"
	"github.com/mlxconv/mlxconv/internal/simd"
)

// Errors. Every error of this package wraps one of them.
var (
	// ErrUnsupported: the type has no quantizer here.
	ErrUnsupported = errors.New("kquant: unsupported type")
	// ErrInvalid: a size, length or shape does not fit the type.
	ErrInvalid = errors.New("kquant: invalid argument")
	// ErrNonFinite: the input or the importance matrix holds a NaN or ±Inf.
	ErrNonFinite = errors.New("kquant: non-finite value")
)

// rowFunc quantizes one row x (a multiple of the block size) into dst (the
// row's bytes), with qw nil (no importance matrix) or one weight per column.
type rowFunc func(dst []byte, x, qw []float32)

// kernel is one type's entry in the trait table.
type kernel struct {
	blockSize int                         // elements per block (ggml's blck_size)
	typeSize  int                         // bytes per block (ggml's type_size)
	quantize  rowFunc                     // ggml_quantize_chunk for one row
	dequant   func(y []float32, b []byte) // dequantize_row_* for one block
}

// kernels is the trait table, indexed by type. Block and byte sizes equal
// package gguf's (a test checks it).
var kernels = map[gguf.Type]kernel{
	gguf.Q4_0:   {32, 18, legacyRow(kindQ4_0), dequantQ4_0},
	gguf.Q4_1:   {32, 20, legacyRow(kindQ4_1), dequantQ4_1},
	gguf.Q5_0:   {32, 22, legacyRow(kindQ5_0), dequantQ5_0},
	gguf.Q5_1:   {32, 24, legacyRow(kindQ5_1), dequantQ5_1},
	gguf.Q8_0:   {32, 34, legacyRow(kindQ8_0), dequantQ8_0},
	gguf.Q2_K:   {256, 84, blockRow(qkK, 84, q2KBlock), dequantQ2K},
	gguf.Q3_K:   {256, 110, blockRow(qkK, 110, q3KBlock), dequantQ3K},
	gguf.Q4_K:   {256, 144, blockRow(qkK, 144, q4KBlock), dequantQ4K},
	gguf.Q5_K:   {256, 176, blockRow(qkK, 176, q5KBlock), dequantQ5K},
	gguf.Q6_K:   {256, 210, blockRow(qkK, 210, q6KBlock), dequantQ6K},
	gguf.IQ4_NL: {32, 18, iq4NLRow, dequantIQ4NL},
	gguf.IQ4_XS: {256, 136, blockRow(qkK, 136, iq4XSBlock), dequantIQ4XS},
	gguf.TQ1_0:  {256, 54, blockRow(qkK, 54, tq1Block), dequantTQ1},
	gguf.TQ2_0:  {256, 66, blockRow(qkK, 66, tq2Block), dequantTQ2},
}

// blockRow returns a rowFunc that runs block (n values, with qw nil or its
// n weights) over a row.
func blockRow(n, typeSize int, block func(dst []byte, x, qw []float32)) rowFunc {
	return func(dst []byte, x, qw []float32) {
		for b := range len(x) / n {
			var w []float32
			if qw != nil {
				w = qw[b*n : (b+1)*n]
			}
			block(dst[b*typeSize:(b+1)*typeSize], x[b*n:(b+1)*n], w)
		}
	}
}

// Types returns the types Quantize and Dequantize support, in id order.
func Types() []gguf.Type {
	var ts []gguf.Type
	for t := range gguf.Type(64) {
		if _, ok := kernels[t]; ok {
			ts = append(ts, t)
		}
	}
	return ts
}

// Supported reports whether Quantize and Dequantize support t.
func Supported(t gguf.Type) bool {
	_, ok := kernels[t]
	return ok
}

// BlockSize returns the number of elements of one block of t, 0 if t is not
// supported.
func BlockSize(t gguf.Type) int { return kernels[t].blockSize }

// TypeSize returns the number of bytes of one block of t, 0 if t is not
// supported.
func TypeSize(t gguf.Type) int { return kernels[t].typeSize }

// RowSize returns the number of bytes of a row of ncols elements of type t.
func RowSize(t gguf.Type, ncols int) (int, error) {
	k, ok := kernels[t]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	if ncols < 0 || ncols%k.blockSize != 0 {
		return 0, fmt.Errorf("%w: a %s row of %d elements is not a multiple of the block size %d",
			ErrInvalid, t, ncols, k.blockSize)
	}
	n := ncols / k.blockSize
	if n > math.MaxInt/k.typeSize {
		return 0, fmt.Errorf("%w: a %s row of %d elements overflows", ErrInvalid, t, ncols)
	}
	return n * k.typeSize, nil
}

// Quantize encodes nrows rows of ncols float32 values (src, row-major, at
// least nrows*ncols long) as type t into dst, which must hold at least
// nrows*RowSize(t, ncols) bytes; the bytes written equal ggml's
// ggml_quantize_chunk(t, src, dst, 0, nrows, ncols, imatrix). imatrix is nil
// or holds one importance weight per column (llama-quantize's per-tensor
// slice, or one expert's): without it the types take ggml's reference
// paths (quantize_row_*_ref; for IQ4_NL and IQ4_XS the x*x weights), with it
// the weighted ones (Q8_0 ignores it). Quantize does not retain src, dst or
// imatrix. Rows are independent, so callers may split a tensor into row
// ranges and quantize them concurrently.
//
// Inputs with a NaN or ±Inf (in src or imatrix) are rejected with
// ErrNonFinite: llama-quantize accepts them, and what ggml then writes
// depends on the CPU's NaN rules. Finite inputs whose intermediate results
// overflow follow ggml's arithmetic as it runs on x86-64.
func Quantize(t gguf.Type, dst []byte, src []float32, nrows, ncols int, imatrix []float32) error {
	k, rs, err := checkArgs(t, dst, src, nrows, ncols, imatrix)
	if err != nil {
		return err
	}
	for r := range nrows {
		x := src[r*ncols : (r+1)*ncols]
		if err := checkFinite("", x); err != nil {
			return fmt.Errorf("row %d: %w", r, err)
		}
		k.quantize(dst[r*rs:(r+1)*rs], x, imatrix)
	}
	return nil
}

// QuantizeParallel is Quantize with the rows split into contiguous ranges
// quantized by up to workers goroutines (GOMAXPROCS when workers <= 0); the
// bytes are Quantize's. Everything is checked before any row is written, so
// an error (a NaN anywhere, a short dst) leaves dst untouched.
func QuantizeParallel(t gguf.Type, dst []byte, src []float32, nrows, ncols int, imatrix []float32, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, nrows)
	if workers <= 1 {
		return Quantize(t, dst, src, nrows, ncols, imatrix)
	}
	k, rs, err := checkArgs(t, dst, src, nrows, ncols, imatrix)
	if err != nil {
		return err
	}
	for r := range nrows {
		if err := checkFinite("", src[r*ncols:(r+1)*ncols]); err != nil {
			return fmt.Errorf("row %d: %w", r, err)
		}
	}
	// Every row is checked: the workers only quantize.
	var wg sync.WaitGroup
	for w := range workers {
		r0, r1 := nrows*w/workers, nrows*(w+1)/workers
		wg.Go(func() {
			for r := r0; r < r1; r++ {
				k.quantize(dst[r*rs:(r+1)*rs], src[r*ncols:(r+1)*ncols], imatrix)
			}
		})
	}
	wg.Wait()
	return nil
}

// checkArgs is what Quantize and QuantizeParallel check before any row:
// the type has a kernel, the shapes fit, the importance matrix has one
// finite value per column. It returns the kernel and the row size.
func checkArgs(t gguf.Type, dst []byte, src []float32, nrows, ncols int, imatrix []float32) (kernel, int, error) {
	k, ok := kernels[t]
	if !ok {
		return kernel{}, 0, fmt.Errorf("%w: quantizing to %s", ErrUnsupported, t)
	}
	rs, err := RowSize(t, ncols)
	if err != nil {
		return kernel{}, 0, err
	}
	if err := checkShape(t, len(dst), len(src), nrows, ncols, rs); err != nil {
		return kernel{}, 0, err
	}
	if imatrix != nil && len(imatrix) != ncols {
		return kernel{}, 0, fmt.Errorf("%w: %s: importance matrix of %d values for rows of %d", ErrInvalid, t, len(imatrix), ncols)
	}
	if err := checkFinite("importance matrix", imatrix); err != nil {
		return kernel{}, 0, err
	}
	return k, rs, nil
}

func checkShape(t gguf.Type, ndst, nsrc, nrows, ncols, rowSize int) error {
	if nrows < 0 {
		return fmt.Errorf("%w: %s: %d rows", ErrInvalid, t, nrows)
	}
	if ncols > 0 && nrows > math.MaxInt/ncols || rowSize > 0 && nrows > math.MaxInt/rowSize {
		return fmt.Errorf("%w: %s: %d rows of %d overflow", ErrInvalid, t, nrows, ncols)
	}
	if nsrc < nrows*ncols {
		return fmt.Errorf("%w: %s: %d values for %d rows of %d", ErrInvalid, t, nsrc, nrows, ncols)
	}
	if ndst < nrows*rowSize {
		return fmt.Errorf("%w: %s: %d bytes for %d rows of %d bytes", ErrInvalid, t, ndst, nrows, rowSize)
	}
	return nil
}

// checkFinite reports the first NaN or ±Inf of x, naming what holds it
// (nothing when what is "").
func checkFinite(what string, x []float32) error {
	if ok, finite := simd.AllFinite(x); ok && finite {
		return nil
	}
	for j, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			if what != "" {
				what += ", "
			}
			return fmt.Errorf("%w: %selement %d is %v", ErrNonFinite, what, j, v)
		}
	}
	return nil
}

// Dequantize decodes src, whole blocks of type t, into dst, which must hold
// at least len(src)/TypeSize(t)*BlockSize(t) values; the values equal
// ggml's dequantize_row_* (any bytes are accepted: scales that decode to
// NaN or ±Inf give NaN or ±Inf values). It returns the number of values
// written.
func Dequantize(t gguf.Type, dst []float32, src []byte) (int, error) {
	k, ok := kernels[t]
	if !ok {
		return 0, fmt.Errorf("%w: dequantizing %s", ErrUnsupported, t)
	}
	if len(src)%k.typeSize != 0 {
		return 0, fmt.Errorf("%w: %s: %d bytes are not whole blocks of %d", ErrInvalid, t, len(src), k.typeSize)
	}
	nb := len(src) / k.typeSize
	if len(dst) < nb*k.blockSize {
		return 0, fmt.Errorf("%w: %s: room for %d values, %d needed", ErrInvalid, t, len(dst), nb*k.blockSize)
	}
	for b := range nb {
		k.dequant(dst[b*k.blockSize:(b+1)*k.blockSize], src[b*k.typeSize:(b+1)*k.typeSize])
	}
	return nb * k.blockSize, nil
}
