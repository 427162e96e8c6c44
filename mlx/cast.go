package mlx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/mlxconv/mlxconv/internal/simd"
)

// ErrCast is wrapped by every Cast and CastInto error.
var ErrCast = errors.New("mlx: invalid cast")

// castable reports whether Cast handles dt.
func castable(dt DType) bool { return dt == F16 || dt == BF16 || dt == F32 || dt == F64 }

// castBlock is the number of elements converted through one stack buffer.
const castBlock = 512

// Cast converts src, little-endian elements of dtype from, to dtype to as
// MLX's astype does on the CPU: every conversion goes through float32 (a
// float64 is first rounded to float32), rounding to nearest even, with
// MLX's NaN encodings (F32ToF16, F32ToBF16). from and to are F16, BF16, F32
// or F64. Errors wrap ErrCast.
func Cast(src []byte, from, to DType) ([]byte, error) {
	return castAlloc(Workers(), src, from, to)
}

func castAlloc(workers int, src []byte, from, to DType) ([]byte, error) {
	if err := checkCast(len(src), from, to); err != nil {
		return nil, err
	}
	dst := make([]byte, len(src)/from.Size()*to.Size())
	castInto(workers, dst, src, from, to)
	return dst, nil
}

// CastInto is Cast into dst, which must hold exactly as many elements of
// dtype to as src holds of dtype from. src and dst must not overlap unless
// they are identical and from == to.
func CastInto(dst, src []byte, from, to DType) error {
	if err := checkCast(len(src), from, to); err != nil {
		return err
	}
	if n := len(src) / from.Size(); len(dst) != n*to.Size() {
		return fmt.Errorf("%w: %d %s elements into a %d-byte %s buffer", ErrCast, n, from, len(dst), to)
	}
	castInto(Workers(), dst, src, from, to)
	return nil
}

func checkCast(n int, from, to DType) error {
	for _, d := range [2]DType{from, to} {
		if !castable(d) {
			return fmt.Errorf("%w: %w %s (want float16, bfloat16, float32 or float64)", ErrCast, ErrDType, d)
		}
	}
	if n%from.Size() != 0 {
		return fmt.Errorf("%w: %d bytes is not a whole number of %s elements", ErrCast, n, from)
	}
	return nil
}

// castInto converts after validation, in parallel.
func castInto(workers int, dst, src []byte, from, to DType) {
	n := len(src) / from.Size()
	if from == to {
		copy(dst, src)
		return
	}
	k := castKernel{dst: dst, src: src, from: from, to: to}
	if from == F16 {
		k.f16 = f16Table()
	}
	if workers <= 1 || n <= chunkElems {
		k.run(0, n)
		return
	}
	parallelFor(workers, n, chunkElems, k.run)
}

type castKernel struct {
	dst, src []byte
	from, to DType
	f16      *[1 << 16]float32
}

// run converts elements [lo, hi) in blocks through a float32 buffer (float64
// pairs convert directly).
func (k castKernel) run(lo, hi int) {
	if k.from == BF16 && k.to == F16 {
		// The vector kernel takes whole blocks of 16; a NaN (MLX writes
		// sign|0x7D00) sends that range to the scalar code below.
		m := (hi - lo) &^ 15
		if ok, nan := simd.BF16ToF16(k.dst[2*lo:2*(lo+m)], k.src[2*lo:2*(lo+m)]); ok {
			if nan {
				k.runScalar(lo, lo+m)
			}
			lo += m
		}
	}
	k.runScalar(lo, hi)
}

// runScalar is run without vector kernels: the definition of every cast.
func (k castKernel) runScalar(lo, hi int) {
	var buf [castBlock]float32
	for lo < hi {
		n := min(hi-lo, castBlock)
		x := buf[:n]
		if k.to == F64 {
			k.load(x, lo)
			d := k.dst[8*lo : 8*(lo+n)]
			for j, v := range x {
				binary.LittleEndian.PutUint64(d[8*j:], math.Float64bits(float64(v)))
			}
		} else {
			k.load(x, lo)
			k.store(x, lo)
		}
		lo += n
	}
}

// load widens len(x) source elements starting at i to float32 (a float64 is
// rounded to float32, as MLX does before any narrower conversion).
func (k castKernel) load(x []float32, i int) {
	n := len(x)
	switch k.from {
	case F64:
		s := k.src[8*i : 8*(i+n)]
		for j := range x {
			x[j] = float32(math.Float64frombits(binary.LittleEndian.Uint64(s[8*j:])))
		}
	default:
		es := k.from.Size()
		loadGroup(x, k.src[es*i:es*(i+n)], k.from, k.f16)
	}
}

// store writes len(x) float32 values, rounded to the target dtype, at
// element i.
func (k castKernel) store(x []float32, i int) {
	es := k.to.Size()
	storeFloats(k.dst[es*i:es*(i+len(x))], k.to, x)
}
